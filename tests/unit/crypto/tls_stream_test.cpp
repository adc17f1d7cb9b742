#include "crypto/tls_stream.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <vector>

#include "crypto/certificate.hpp"
#include "tests/unit/crypto/test_support.hpp"

namespace vpn::crypto::test {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) {
    x = static_cast<std::uint8_t>(rng());
  }
  return b;
}

// A server certificate on disk (ECDSA P-256, as an HTTPS server would have).
class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CaOptions ca;
    ca.name = "outer-ca";
    ca.key_type = KeyType::kEcdsaP256;
    createCa(ca, dir_ / "ca");
    SignOptions s;
    s.name = "rv.example.test";
    s.key_type = KeyType::kEcdsaP256;
    signCertificate(dir_ / "ca", s, dir_ / "server");
  }

  TlsStreamContext serverContext() {
    return TlsStreamContext::server(dir_ / "server.crt", dir_ / "server.key");
  }

  // Moves ciphertext both ways, `chunk` bytes at a time, and collects plaintext on each side
  // until nothing moves.
  void pump(TlsStream& client, TlsStream& server, std::size_t chunk = 4096) {
    bool moved = true;
    while (moved) {
      moved = carry(client, server, to_server_, chunk);
      moved = carry(server, client, to_client_, chunk) || moved;
    }
  }

  static bool carry(TlsStream& from, TlsStream& to, Bytes& plain_out, std::size_t chunk) {
    Bytes buf(chunk);
    Bytes plain(16384);
    bool moved = false;
    while (std::size_t n = from.drainCiphertext(buf)) {
      to.feedCiphertext(std::span<const std::uint8_t>(buf.data(), n));
      while (std::size_t m = to.readPlaintext(plain)) {
        plain_out.insert(plain_out.end(), plain.begin(), plain.begin() + static_cast<long>(m));
      }
      moved = true;
    }
    return moved;
  }

  TempDir dir_;
  Bytes to_server_;  // plaintext the server read
  Bytes to_client_;  // plaintext the client read
};

TEST_F(TlsStreamTest, HandshakeBackToBackWithAlpnAndSni) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client("rv.example.test");
  EXPECT_TRUE(sctx.isServer());
  EXPECT_FALSE(cctx.isServer());
  TlsStream server(sctx);
  TlsStream client(cctx);
  EXPECT_GT(client.pendingCiphertext(), 0u) << "the ClientHello is ready at once";
  EXPECT_EQ(server.pendingCiphertext(), 0u);
  pump(client, server);
  ASSERT_EQ(client.state(), TlsStream::State::kEstablished) << client.failureReason();
  ASSERT_EQ(server.state(), TlsStream::State::kEstablished) << server.failureReason();
  EXPECT_EQ(client.alpn(), "http/1.1");
  EXPECT_EQ(server.alpn(), "http/1.1");
  EXPECT_EQ(server.serverName(), "rv.example.test");

  Bytes hello = {'p', 'i', 'n', 'g'};
  ASSERT_TRUE(client.writePlaintext(hello));
  pump(client, server);
  EXPECT_EQ(to_server_, hello);
  Bytes reply = {'p', 'o', 'n', 'g', '!'};
  ASSERT_TRUE(server.writePlaintext(reply));
  pump(client, server);
  EXPECT_EQ(to_client_, reply);
}

TEST_F(TlsStreamTest, ClientWithoutNameSendsNoSni) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server);
  ASSERT_TRUE(server.established()) << server.failureReason();
  EXPECT_EQ(server.serverName(), "");
}

TEST_F(TlsStreamTest, WritesBeforeTheHandshakeAreHeldThenDelivered) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  Bytes early = randomBytes(5000, 1);
  ASSERT_TRUE(client.writePlaintext(early));
  EXPECT_EQ(client.pendingPlaintext(), early.size());
  ASSERT_TRUE(server.writePlaintext(std::span<const std::uint8_t>(early).first(10)));
  pump(client, server);
  EXPECT_EQ(client.pendingPlaintext(), 0u);
  EXPECT_EQ(to_server_, early);
  EXPECT_EQ(to_client_, Bytes(early.begin(), early.begin() + 10));
}

TEST_F(TlsStreamTest, LargeTransferBothWaysIsIntact) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server);
  ASSERT_TRUE(client.established());
  Bytes up = randomBytes(8 * 1024 * 1024 + 17, 2);
  Bytes down = randomBytes(3 * 1024 * 1024 + 5, 3);
  std::size_t pos_up = 0;
  std::size_t pos_down = 0;
  std::size_t step = 1;
  while (pos_up < up.size() || pos_down < down.size()) {
    step = step * 7 % 70001 + 1;  // ragged write sizes, up to 70 KB
    std::size_t n = std::min(step, up.size() - pos_up);
    ASSERT_TRUE(client.writePlaintext(std::span<const std::uint8_t>(up).subspan(pos_up, n)));
    pos_up += n;
    std::size_t m = std::min(step / 2 + 1, down.size() - pos_down);
    ASSERT_TRUE(server.writePlaintext(std::span<const std::uint8_t>(down).subspan(pos_down, m)));
    pos_down += m;
    pump(client, server, 1 + step % 9000);
  }
  EXPECT_EQ(to_server_.size(), up.size());
  EXPECT_TRUE(to_server_ == up);
  EXPECT_TRUE(to_client_ == down);
}

TEST_F(TlsStreamTest, BytesFedOneAtATime) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client("one.at.a.time");
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server, 1);
  ASSERT_TRUE(client.established()) << client.failureReason();
  ASSERT_TRUE(server.established()) << server.failureReason();
  Bytes data = randomBytes(40000, 4);
  ASSERT_TRUE(client.writePlaintext(data));
  ASSERT_TRUE(server.writePlaintext(data));
  pump(client, server, 1);
  EXPECT_TRUE(to_server_ == data);
  EXPECT_TRUE(to_client_ == data);
}

TEST_F(TlsStreamTest, PlainHttpToTheServerFailsCleanly) {
  auto sctx = serverContext();
  TlsStream server(sctx);
  std::string req = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
  server.feedCiphertext(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(req.data()), req.size()));
  Bytes out(100);
  EXPECT_EQ(server.readPlaintext(out), 0u);
  EXPECT_EQ(server.state(), TlsStream::State::kFailed);
  EXPECT_NE(server.failureReason().find("handshake"), std::string::npos) << server.failureReason();
  EXPECT_FALSE(server.writePlaintext(out));
  server.feedCiphertext(out);  // ignored, no crash
  EXPECT_EQ(server.readPlaintext(out), 0u);
}

TEST_F(TlsStreamTest, GarbageAnswerToTheClientFailsCleanly) {
  auto cctx = TlsStreamContext::client();
  for (unsigned seed = 0; seed < 50; ++seed) {
    TlsStream client(cctx);
    Bytes junk = randomBytes(1 + seed * 37, seed + 100);
    client.feedCiphertext(junk);
    Bytes out(100);
    EXPECT_EQ(client.readPlaintext(out), 0u);
    // Short junk may just be an incomplete record; longer junk must fail, never establish.
    EXPECT_NE(client.state(), TlsStream::State::kEstablished);
    if (junk.size() > 200) {
      EXPECT_EQ(client.state(), TlsStream::State::kFailed) << "seed " << seed;
      EXPECT_FALSE(client.failureReason().empty());
    }
  }
}

TEST_F(TlsStreamTest, CorruptedRecordAfterHandshakeFails) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server);
  ASSERT_TRUE(server.established());
  ASSERT_TRUE(client.writePlaintext(randomBytes(100, 5)));
  Bytes wire(1000);
  std::size_t n = client.drainCiphertext(wire);
  ASSERT_GT(n, 50u);
  wire[n - 3] ^= 0x40;  // flips a bit of the AEAD tag
  server.feedCiphertext(std::span<const std::uint8_t>(wire.data(), n));
  Bytes out(1000);
  EXPECT_EQ(server.readPlaintext(out), 0u);
  EXPECT_EQ(server.state(), TlsStream::State::kFailed);
  EXPECT_FALSE(server.failureReason().empty());
}

TEST_F(TlsStreamTest, ShutdownReachesThePeerAsClosed) {
  auto sctx = serverContext();
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server);
  ASSERT_TRUE(client.writePlaintext(Bytes{1, 2, 3}));
  client.shutdown();
  EXPECT_FALSE(client.writePlaintext(Bytes{4}));
  pump(client, server);
  EXPECT_EQ(to_server_, (Bytes{1, 2, 3}));
  EXPECT_EQ(server.state(), TlsStream::State::kClosed);
  EXPECT_FALSE(server.writePlaintext(Bytes{5}));
}

TEST_F(TlsStreamTest, ServerContextErrorsAreClear) {
  auto expectError = [](const std::filesystem::path& cert, const std::filesystem::path& key,
                        const std::string& needle) {
    try {
      (void)TlsStreamContext::server(cert, key);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const CryptoError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectError(dir_ / "missing.crt", dir_ / "server.key", "missing.crt");
  expectError(dir_ / "server.crt", dir_ / "missing.key", "missing.key");
  { std::ofstream(dir_ / "junk.pem") << "not a certificate\n"; }
  expectError(dir_ / "junk.pem", dir_ / "server.key", "not a valid PEM certificate");
  // A key file others may read is refused before it is parsed, with the fix in the message.
  expectError(dir_ / "server.crt", dir_ / "junk.pem", "is readable by group or others; run `chmod 600");
  std::filesystem::permissions(dir_ / "junk.pem", std::filesystem::perms::owner_read |
                                                      std::filesystem::perms::owner_write);
  expectError(dir_ / "server.crt", dir_ / "junk.pem", "not a valid unencrypted PEM private key");
  SignOptions other;
  other.name = "other";
  signCertificate(dir_ / "ca", other, dir_ / "other");
  expectError(dir_ / "server.crt", dir_ / "other.key", "does not match");
}

TEST_F(TlsStreamTest, ChainFileWithIntermediateIsAccepted) {
  // The leaf followed by the CA, as a fullchain.pem would be.
  {
    std::ofstream out(dir_ / "fullchain.pem");
    out << std::ifstream(dir_ / "server.crt").rdbuf() << std::ifstream(dir_ / "ca.crt").rdbuf();
  }
  auto sctx = TlsStreamContext::server(dir_ / "fullchain.pem", dir_ / "server.key");
  auto cctx = TlsStreamContext::client();
  TlsStream server(sctx);
  TlsStream client(cctx);
  pump(client, server);
  EXPECT_TRUE(client.established()) << client.failureReason();
}

}  // namespace
}  // namespace vpn::crypto::test
