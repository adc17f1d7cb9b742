// The network key and its seal: round trips, every flipped byte and every other key refused,
// fresh nonces, what may be sealed, the key file's checks and the CA-derived key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "crypto/network_key.hpp"
#include "crypto/random.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/sealed_packet.hpp"
#include "session/outer_seal.hpp"
#include "tests/fakes/test_pki.hpp"

namespace vpn::test {
namespace {

using crypto::NetworkKey;

NetworkKey randomKey() {
  std::array<std::uint8_t, 32> raw{};
  crypto::randomBytes(raw);
  return NetworkKey(NetworkKey::Source::kFile, raw);
}

std::vector<std::uint8_t> cookieReply() {
  protocol::CookieReply r;
  r.receiver_index = 5;
  r.cookie.fill(0xAB);
  std::vector<std::uint8_t> out(protocol::kCookieReplySize);
  protocol::serializeCookieReply(r, out);
  return out;
}

TEST(OuterSeal, RoundTripsAndAddsTheOverhead) {
  auto key = randomKey();
  session::OuterSeal a(key), b(key);
  auto inner = cookieReply();
  std::array<std::uint8_t, protocol::kMaxSealedPacket> buf{};
  std::size_t n = a.seal(inner, buf);
  ASSERT_EQ(n, inner.size() + protocol::kSealedOverhead);
  EXPECT_EQ(buf[0], protocol::kTypeSealed);
  EXPECT_EQ(protocol::classify(std::span<const std::uint8_t>(buf.data(), n)),
            protocol::PacketFamily::kSealed);
  // The inner bytes are not visible.
  EXPECT_EQ(std::search(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), inner.begin() + 8,
                        inner.end()),
            buf.begin() + static_cast<std::ptrdiff_t>(n));
  auto out = b.open(std::span<std::uint8_t>(buf.data(), n));
  ASSERT_EQ(out.size(), inner.size());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), inner.begin()));
}

TEST(OuterSeal, EveryFlippedByteIsRefused) {
  auto key = randomKey();
  session::OuterSeal seal(key);
  auto inner = cookieReply();
  std::array<std::uint8_t, protocol::kMaxSealedPacket> good{};
  std::size_t n = seal.seal(inner, good);
  ASSERT_GT(n, 0u);
  for (std::size_t i = 0; i < n; ++i) {
    auto bad = good;
    bad[i] ^= 0x01;
    EXPECT_TRUE(seal.open(std::span<std::uint8_t>(bad.data(), n)).empty()) << "byte " << i;
  }
  // Truncated by one byte, and shorter than the overhead.
  auto copy = good;
  EXPECT_TRUE(seal.open(std::span<std::uint8_t>(copy.data(), n - 1)).empty());
  EXPECT_TRUE(seal.open(std::span<std::uint8_t>(copy.data(), protocol::kSealedOverhead)).empty());
}

TEST(OuterSeal, AnotherKeyCannotOpen) {
  session::OuterSeal a(randomKey()), b(randomKey());
  auto inner = cookieReply();
  std::array<std::uint8_t, protocol::kMaxSealedPacket> buf{};
  std::size_t n = a.seal(inner, buf);
  EXPECT_TRUE(b.open(std::span<std::uint8_t>(buf.data(), n)).empty());
}

TEST(OuterSeal, EachPacketGetsItsOwnNonce) {
  session::OuterSeal seal(randomKey());
  auto inner = cookieReply();
  std::array<std::uint8_t, protocol::kMaxSealedPacket> x{}, y{};
  ASSERT_GT(seal.seal(inner, x), 0u);
  ASSERT_GT(seal.seal(inner, y), 0u);
  EXPECT_FALSE(std::equal(x.begin() + 1, x.begin() + 13, y.begin() + 1));
}

TEST(OuterSeal, SealsOnlyHandshakeCookieAndStunWithinTheSizeLimit) {
  session::OuterSeal seal(randomKey());
  std::array<std::uint8_t, protocol::kMaxSealedPacket + 8> buf{};
  std::vector<std::uint8_t> data{0x50, 1, 2, 3};  // a data packet: sealed by its session instead
  EXPECT_EQ(seal.seal(data, buf), 0u);
  EXPECT_EQ(seal.seal({}, buf), 0u);
  std::vector<std::uint8_t> big(protocol::kMaxSealedInner + 1, 0);
  big[0] = protocol::kTypeHandshake;
  EXPECT_EQ(seal.seal(big, buf), 0u);
  big.pop_back();
  EXPECT_EQ(seal.seal(big, buf), protocol::kMaxSealedPacket);
  auto inner = cookieReply();
  EXPECT_EQ(seal.seal(inner, std::span<std::uint8_t>(buf.data(), inner.size() + 28)), 0u);
}

class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = pki_.dir(); }
  std::filesystem::path file(const char* name) { return dir_ / name; }
  void write(const std::filesystem::path& p, const std::string& text, mode_t mode) {
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
  }
  TestPki pki_;
  std::filesystem::path dir_;
};

TEST_F(KeyFiles, NewKeyReadsBackWithTheSameFingerprint) {
  auto p = file("network.key");
  std::string fp = crypto::writeNewNetworkKey(p);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto key = crypto::readNetworkKeyFile(p);
  EXPECT_EQ(key.fingerprint(), fp);
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(key.source(), NetworkKey::Source::kFile);
  EXPECT_THROW(crypto::writeNewNetworkKey(p), crypto::CryptoError);  // never overwrites
  EXPECT_NE(crypto::writeNewNetworkKey(file("other.key")), fp);
}

TEST_F(KeyFiles, AKeyOthersCanReadIsRefusedWithTheFix) {
  auto p = file("loose.key");
  crypto::writeNewNetworkKey(p);
  ::chmod(p.c_str(), 0640);
  try {
    crypto::readNetworkKeyFile(p);
    FAIL() << "a group-readable key was accepted";
  } catch (const crypto::CryptoError& e) {
    EXPECT_NE(std::string(e.what()).find("readable by group or others"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos);
  }
}

TEST_F(KeyFiles, MalformedKeysAreRefused) {
  const std::string good = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
  write(file("ok.key"), "# comment\n" + good + "\n", 0600);
  EXPECT_NO_THROW(crypto::readNetworkKeyFile(file("ok.key")));
  const std::vector<std::string> bad = {
      "",                                   // empty
      good.substr(0, 40) + "\n",            // too short
      good + "\n" + good + "\n",            // two keys
      "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJ==\n",  // 31 bytes
      "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJ!=\n",  // not base64
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto p = file(("bad" + std::to_string(i) + ".key").c_str());
    write(p, bad[i], 0600);
    EXPECT_THROW(crypto::readNetworkKeyFile(p), crypto::CryptoError) << i;
  }
  EXPECT_THROW(crypto::readNetworkKeyFile(file("missing.key")), crypto::CryptoError);
}

TEST_F(KeyFiles, CaDerivedKeysMatchForOneCaAndDifferAcrossCas) {
  auto a = crypto::networkKeyFromCa(pki_.caCert());
  auto b = crypto::networkKeyFromCa(pki_.caCert());
  TestPki other;
  auto c = crypto::networkKeyFromCa(other.caCert());
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.sealKey(), b.sealKey());
  EXPECT_NE(a.fingerprint(), c.fingerprint());
  EXPECT_EQ(a.source(), NetworkKey::Source::kCa);
}

}  // namespace
}  // namespace vpn::test
