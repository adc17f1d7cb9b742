#include "crypto/key_schedule.hpp"

#include <gtest/gtest.h>

#include "crypto/tls_session.hpp"
#include "tests/unit/crypto/test_support.hpp"

namespace vpn::crypto {
namespace {

using test::fromHex;

TrafficSecret secretFromHex(std::string_view hex) {
  TrafficSecret s;
  auto v = fromHex(hex);
  EXPECT_EQ(v.size(), s.bytes.size());
  std::copy_n(v.begin(), std::min(v.size(), s.bytes.size()), s.bytes.begin());
  return s;
}

const char* const kSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// Expected values computed independently as HMAC-SHA256(s, label || 0x01), which is what
// HKDF-Expand yields for outputs up to 32 bytes; this pins the labels byte for byte.
TEST(KeyScheduleTest, NextSecretKnownAnswer) {
  TrafficSecret next = nextSecret(secretFromHex(kSecret));
  EXPECT_EQ(test::toHex(next.bytes),
            "1b05a1e3249ac14aafac4fdb0d07db39a9cf6693c358b74a8b479a5a0818e090");
}

TEST(KeyScheduleTest, CipherKeyAndIvKnownAnswer) {
  auto key = fromHex("35ad4e8d07d88b3a0c72b49d673b8f5b3fff437186ec8ec7baca35fc388af5b7");
  auto iv = fromHex("d6545f271d9bf70b60c90f63");
  for (CipherSuite suite : {CipherSuite::kAes256Gcm, CipherSuite::kChaCha20Poly1305}) {
    auto derived = makeCipher(suite, secretFromHex(kSecret));
    AeadCipher manual(suite, std::span<const std::uint8_t, kKeySize>(key.data(), kKeySize),
                      std::span<const std::uint8_t, kIvSize>(iv.data(), kIvSize));
    EXPECT_EQ(derived->suite(), suite);
    std::vector<std::uint8_t> a(40, 3), b(40, 3);
    std::array<std::uint8_t, kTagSize> ta{}, tb{};
    ASSERT_TRUE(derived->seal(77, {}, a, ta));
    ASSERT_TRUE(manual.seal(77, {}, b, tb));
    EXPECT_EQ(a, b);
    EXPECT_EQ(ta, tb);
  }
}

TEST(KeyScheduleTest, DeriveKeyKnownAnswerMatchesMakeCipher) {
  AeadKey k = deriveKey(secretFromHex(kSecret));
  EXPECT_EQ(test::toHex(k.key), "35ad4e8d07d88b3a0c72b49d673b8f5b3fff437186ec8ec7baca35fc388af5b7");
  EXPECT_EQ(test::toHex(k.iv), "d6545f271d9bf70b60c90f63");
  AeadScratch scratch;
  for (CipherSuite suite : {CipherSuite::kAes256Gcm, CipherSuite::kChaCha20Poly1305}) {
    auto derived = makeCipher(suite, secretFromHex(kSecret));
    std::vector<std::uint8_t> a(40, 3), b(40, 3);
    std::array<std::uint8_t, kTagSize> ta{}, tb{};
    ASSERT_TRUE(derived->seal(77, {}, a, ta));
    ASSERT_TRUE(scratch.seal(suite, k, 77, {}, b, tb));
    EXPECT_EQ(a, b);
    EXPECT_EQ(ta, tb);
  }
  k.wipe();
}

TEST(KeyScheduleTest, NextSecretDiffersAndIsDeterministic) {
  TrafficSecret s = secretFromHex(kSecret);
  TrafficSecret n1 = nextSecret(s);
  TrafficSecret n2 = nextSecret(s);
  EXPECT_EQ(n1.bytes, n2.bytes);
  EXPECT_NE(n1.bytes, s.bytes);
  EXPECT_NE(nextSecret(n1).bytes, n1.bytes);
}

TEST(KeyScheduleTest, WipeZeroes) {
  TrafficSecret s = secretFromHex(kSecret);
  s.wipe();
  EXPECT_EQ(s.bytes, (std::array<std::uint8_t, 32>{}));
}

TEST(KeyScheduleTest, BothSidesInteroperateAfterHandshake) {
  test::TempDir dir;
  CaOptions ca;
  ca.name = "ksnet";
  createCa(ca, dir / "ca");
  test::signPeer(dir, "ca", "alice");
  test::signPeer(dir, "ca", "bob");
  auto alice = TlsContext::create(test::contextOptions(dir, "ca", "alice"));
  auto bob = TlsContext::create(test::contextOptions(dir, "ca", "bob"));
  auto client = TlsSession::create(*alice, TlsSession::Role::kClient, "bob");
  auto server = TlsSession::create(*bob, TlsSession::Role::kServer, "alice");
  test::runHandshake(*client, *server);
  ASSERT_EQ(client->state(), TlsSession::State::kEstablished) << client->failureReason();

  auto cs = exportSessionSecrets(*client);
  auto ss = exportSessionSecrets(*server);
  ASSERT_TRUE(cs && ss);
  EXPECT_EQ(cs->client_to_server.bytes, ss->client_to_server.bytes);
  EXPECT_EQ(cs->server_to_client.bytes, ss->server_to_client.bytes);

  CipherSuite suite = client->negotiatedCipher();
  auto client_send = makeCipher(suite, cs->client_to_server);
  auto server_recv = makeCipher(suite, ss->client_to_server);
  auto server_send = makeCipher(suite, ss->server_to_client);
  auto client_recv = makeCipher(suite, cs->server_to_client);
  std::vector<std::uint8_t> msg = {'p', 'i', 'n', 'g'};
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(client_send->seal(0, {}, msg, tag));
  EXPECT_TRUE(server_recv->open(0, {}, msg, tag));
  EXPECT_EQ(msg, (std::vector<std::uint8_t>{'p', 'i', 'n', 'g'}));
  ASSERT_TRUE(server_send->seal(0, {}, msg, tag));
  auto copy = msg;
  EXPECT_FALSE(server_recv->open(0, {}, copy, tag));  // directions use different keys
  EXPECT_TRUE(client_recv->open(0, {}, msg, tag));
  EXPECT_EQ(msg, (std::vector<std::uint8_t>{'p', 'i', 'n', 'g'}));

  // After a key update on both sides the new ciphers interoperate and the old ones do not.
  auto next_c = nextSecret(cs->client_to_server);
  auto next_s = nextSecret(ss->client_to_server);
  auto c2 = makeCipher(suite, next_c);
  auto s2 = makeCipher(suite, next_s);
  ASSERT_TRUE(c2->seal(1, {}, msg, tag));
  copy = msg;
  EXPECT_FALSE(server_recv->open(1, {}, copy, tag));
  EXPECT_TRUE(s2->open(1, {}, msg, tag));
  EXPECT_EQ(msg, (std::vector<std::uint8_t>{'p', 'i', 'n', 'g'}));
}

}  // namespace
}  // namespace vpn::crypto
