// DataKeys and CompactDataKeys in isolation: two sides made from the same exported secrets,
// packets moved by hand so reordering across key updates is exact. Every behaviour test runs for
// each pairing of the two key holders (the rendezvous server is a CompactDataKeys talking to a
// peer's DataKeys) and both suites.
#include "session/data_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "crypto/random.hpp"

namespace vpn::session {
namespace {

using Packet = std::vector<std::uint8_t>;
using OpenStatus = DataOpenStatus;

template <class Keys>
std::unique_ptr<Keys> makeKeys(crypto::CipherSuite suite, const crypto::SessionSecrets& secrets,
                               bool is_client, Instant now, crypto::AeadScratch& scratch) {
  if constexpr (std::is_same_v<Keys, CompactDataKeys>) {
    return Keys::create(suite, secrets, is_client, now, CompactKeySet(scratch));
  } else {
    return Keys::create(suite, secrets, is_client, now);
  }
}

template <class Keys>
Packet sealWith(Keys& k, std::uint8_t fill) {
  Packet p(protocol::kDataOverhead + 20, fill);
  EXPECT_TRUE(k.seal(false, 42, p, 20));
  return p;
}

template <class Keys>
DataOpenResult openWith(Keys& k, Packet p, Instant now) {
  auto h = protocol::parseDataHeader(p);
  EXPECT_TRUE(h.has_value());
  auto r = k.open(now, *h, p, seconds(2));
  if (r.status == OpenStatus::kOk) {
    EXPECT_EQ(p[protocol::kDataHeaderSize], p[protocol::kDataHeaderSize + 19]);
  }
  return r;
}

template <class ClientKeys, class ServerKeys, crypto::CipherSuite kSuite>
struct Pairing {
  using Client = ClientKeys;
  using Server = ServerKeys;
  static constexpr crypto::CipherSuite suite = kSuite;
};

template <class P>
class DataKeysTest : public ::testing::Test {
 protected:
  DataKeysTest() {
    crypto::randomBytes(secrets.client_to_server.bytes);
    crypto::randomBytes(secrets.server_to_client.bytes);
    client = makeKeys<typename P::Client>(P::suite, secrets, true, t, scratch);
    server = makeKeys<typename P::Server>(P::suite, secrets, false, t, scratch);
  }
  crypto::AeadScratch scratch;  // shared by both sides when compact, as in the rendezvous
  crypto::SessionSecrets secrets;
  Instant t = Instant{} + seconds(100);
  std::unique_ptr<typename P::Client> client;
  std::unique_ptr<typename P::Server> server;
};

using Pairings = ::testing::Types<
    Pairing<DataKeys, DataKeys, crypto::CipherSuite::kChaCha20Poly1305>,
    Pairing<DataKeys, CompactDataKeys, crypto::CipherSuite::kChaCha20Poly1305>,
    Pairing<DataKeys, CompactDataKeys, crypto::CipherSuite::kAes256Gcm>,
    Pairing<CompactDataKeys, DataKeys, crypto::CipherSuite::kAes256Gcm>,
    Pairing<CompactDataKeys, CompactDataKeys, crypto::CipherSuite::kChaCha20Poly1305>>;
struct PairingNames {
  template <class P>
  static std::string GetName(int) {
    auto name = [](bool compact) { return compact ? std::string("Compact") : std::string("Cipher"); };
    return name(std::is_same_v<typename P::Client, CompactDataKeys>) + "To" +
           name(std::is_same_v<typename P::Server, CompactDataKeys>) +
           (P::suite == crypto::CipherSuite::kAes256Gcm ? "Aes" : "ChaCha");
  }
};
TYPED_TEST_SUITE(DataKeysTest, Pairings, PairingNames);

TYPED_TEST(DataKeysTest, UpdateNeedsConfirmationAndPeerFollows) {
  auto& p = *this;
  ASSERT_TRUE(p.client && p.server);
  // Nothing received yet: no update may start.
  EXPECT_FALSE(p.client->updateDue(p.t + seconds(500), seconds(1), 1000));
  EXPECT_EQ(openWith(*p.client, sealWith(*p.server, 1), p.t).status, OpenStatus::kOk);
  EXPECT_TRUE(p.client->updateDue(p.t + seconds(1), seconds(1), 1000));
  p.client->initiateUpdate(p.t);
  EXPECT_EQ(p.client->txPhase(), 1);
  EXPECT_FALSE(p.client->updateDue(p.t + seconds(500), seconds(1), 0));  // unconfirmed
  auto r = openWith(*p.server, sealWith(*p.client, 2), p.t);
  EXPECT_EQ(r.status, OpenStatus::kOk);
  EXPECT_TRUE(r.rotated);
  EXPECT_EQ(p.server->txPhase(), 1);  // the server followed with its send key
  r = openWith(*p.client, sealWith(*p.server, 3), p.t);
  EXPECT_EQ(r.status, OpenStatus::kOk);
  EXPECT_TRUE(p.client->updateDue(p.t + seconds(1), seconds(1), 1000));  // confirmed again
  EXPECT_EQ(p.client->keyUpdates(), 1u);
  EXPECT_EQ(p.server->keyUpdates(), 1u);
}

TYPED_TEST(DataKeysTest, ReorderedOldPhasePacketsOpenWithinGraceOnly) {
  auto& p = *this;
  openWith(*p.server, sealWith(*p.client, 1), p.t);
  openWith(*p.client, sealWith(*p.server, 1), p.t);
  Packet old1 = sealWith(*p.client, 4);
  Packet old2 = sealWith(*p.client, 5);
  p.client->initiateUpdate(p.t);
  Packet fresh = sealWith(*p.client, 6);
  EXPECT_TRUE(openWith(*p.server, fresh, p.t).rotated);
  EXPECT_EQ(openWith(*p.server, old1, p.t + seconds(1)).status, OpenStatus::kOk);
  p.server->expire(p.t + seconds(3));
  EXPECT_EQ(openWith(*p.server, old2, p.t + seconds(3)).status,
            OpenStatus::kAuthFailed);
  EXPECT_EQ(openWith(*p.server, fresh, p.t).status, OpenStatus::kReplay);
}

TYPED_TEST(DataKeysTest, SimultaneousUpdatesConverge) {
  auto& p = *this;
  openWith(*p.server, sealWith(*p.client, 1), p.t);
  openWith(*p.client, sealWith(*p.server, 1), p.t);
  p.client->initiateUpdate(p.t);
  p.server->initiateUpdate(p.t);
  Packet c = sealWith(*p.client, 2);
  Packet s = sealWith(*p.server, 3);
  EXPECT_EQ(openWith(*p.server, c, p.t).status, OpenStatus::kOk);
  EXPECT_EQ(openWith(*p.client, s, p.t).status, OpenStatus::kOk);
  EXPECT_EQ(p.client->txPhase(), p.server->txPhase());
  EXPECT_EQ(p.client->keyUpdates(), 1u);
  EXPECT_EQ(p.server->keyUpdates(), 1u);
  // And the next generation still works both ways.
  p.client->initiateUpdate(p.t);
  EXPECT_TRUE(openWith(*p.server, sealWith(*p.client, 7), p.t).rotated);
  EXPECT_EQ(openWith(*p.client, sealWith(*p.server, 8), p.t).status, OpenStatus::kOk);
}

TYPED_TEST(DataKeysTest, ForgedPacketsChangeNothing) {
  auto& p = *this;
  Packet good = sealWith(*p.client, 1);
  Packet forged = good;
  forged[0] ^= 1;  // other phase: would try the next key
  EXPECT_EQ(openWith(*p.server, forged, p.t).status, OpenStatus::kAuthFailed);
  forged = good;
  forged.back() ^= 0x80;
  EXPECT_EQ(openWith(*p.server, forged, p.t).status, OpenStatus::kAuthFailed);
  auto r = openWith(*p.server, good, p.t);
  EXPECT_EQ(r.status, OpenStatus::kOk);
  EXPECT_FALSE(r.rotated);
  EXPECT_EQ(p.server->txPhase(), 0);
}

TYPED_TEST(DataKeysTest, ManyGenerationsEitherSideStarting) {
  auto& p = *this;
  ASSERT_EQ(openWith(*p.server, sealWith(*p.client, 1), p.t).status, OpenStatus::kOk);
  ASSERT_EQ(openWith(*p.client, sealWith(*p.server, 1), p.t).status, OpenStatus::kOk);
  for (int gen = 1; gen <= 6; ++gen) {
    Instant now = p.t + seconds(10 * gen);
    Packet old = sealWith(*p.client, 9);  // sealed under the generation about to end
    if (gen % 2 == 1) {
      ASSERT_TRUE(p.client->updateDue(now, seconds(1), 1000)) << gen;
      p.client->initiateUpdate(now);
      EXPECT_TRUE(openWith(*p.server, sealWith(*p.client, 2), now).rotated) << gen;
      EXPECT_EQ(openWith(*p.client, sealWith(*p.server, 3), now).status, OpenStatus::kOk) << gen;
    } else {
      ASSERT_TRUE(p.server->updateDue(now, seconds(1), 1000)) << gen;
      p.server->initiateUpdate(now);
      EXPECT_TRUE(openWith(*p.client, sealWith(*p.server, 2), now).rotated) << gen;
      EXPECT_EQ(openWith(*p.server, sealWith(*p.client, 3), now).status, OpenStatus::kOk) << gen;
    }
    EXPECT_EQ(p.client->txPhase(), gen % 2);
    EXPECT_EQ(p.server->txPhase(), gen % 2);
    // The previous generation still opens within the grace, not after.
    if (gen % 2 == 1) {
      EXPECT_EQ(openWith(*p.server, old, now + seconds(1)).status, OpenStatus::kOk) << gen;
    } else {
      p.server->expire(now + seconds(3));
      EXPECT_EQ(openWith(*p.server, old, now + seconds(3)).status, OpenStatus::kAuthFailed)
          << gen;
    }
  }
  EXPECT_EQ(p.client->keyUpdates(), 6u);
  EXPECT_EQ(p.server->keyUpdates(), 6u);
}

// The replay window: DataKeys remembers 8192 packets back, CompactDataKeys 256.
TYPED_TEST(DataKeysTest, ReplayWindowMatchesTheKeyHolder) {
  auto& p = *this;
  using Server = typename TypeParam::Server;
  constexpr std::uint64_t kWindow =
      std::is_same_v<Server, CompactDataKeys> ? 256 : crypto::ReplayWindow::kWindowSize;
  std::vector<Packet> sent;
  for (std::uint64_t i = 0; i <= kWindow + 1; ++i) {
    sent.push_back(sealWith(*p.client, static_cast<std::uint8_t>(i)));
  }
  ASSERT_EQ(openWith(*p.server, sent.back(), p.t).status, OpenStatus::kOk);  // counter W + 1
  EXPECT_EQ(openWith(*p.server, sent[0], p.t).status, OpenStatus::kReplay);  // too old
  EXPECT_EQ(openWith(*p.server, sent[2], p.t).status, OpenStatus::kOk);      // oldest inside
  EXPECT_EQ(openWith(*p.server, sent[2], p.t).status, OpenStatus::kReplay);
  EXPECT_EQ(openWith(*p.server, sent[kWindow / 2], p.t).status, OpenStatus::kOk);
}

TEST(CompactDataKeys, IsSmallAndWipesNothingItDoesNotOwn) {
  // The rendezvous holds one per registered peer: keep it a few hundred bytes.
  EXPECT_LT(sizeof(CompactDataKeys), 512u);
  EXPECT_GT(sizeof(DataKeys), 1024u);  // the peer's keeps its 8192-packet window
  crypto::AeadScratch scratch;
  crypto::SessionSecrets secrets;
  crypto::randomBytes(secrets.client_to_server.bytes);
  crypto::randomBytes(secrets.server_to_client.bytes);
  Instant t = Instant{} + seconds(1);
  auto a = CompactDataKeys::create(crypto::CipherSuite::kAes256Gcm, secrets, true, t,
                                   CompactKeySet(scratch));
  auto b = CompactDataKeys::create(crypto::CipherSuite::kAes256Gcm, secrets, false, t,
                                   CompactKeySet(scratch));
  ASSERT_TRUE(a && b);
  Packet pkt = sealWith(*a, 5);
  a.reset();  // destroying one session leaves the shared scratch usable by the others
  EXPECT_EQ(openWith(*b, pkt, t).status, OpenStatus::kOk);
  EXPECT_EQ(b->suite(), crypto::CipherSuite::kAes256Gcm);
}

// Finding 8: keys were updated after 2^32 packets or 120 s. AES-GCM's confidentiality limit is
// 2^23 packets per key (RFC 9001 section 6.6), which 10 Gbit/s spends in seconds. The update is now
// due at half of it; if the peer never confirms our phase, sealing stops at the limit itself.
TEST(DataKeysLimit, AesGcmKeyIsUpdatedAtHalfItsLimitAndNeverUsedPastIt) {
  crypto::SessionSecrets secrets;
  crypto::randomBytes(secrets.client_to_server.bytes);
  crypto::randomBytes(secrets.server_to_client.bytes);
  Instant t = Instant{} + seconds(1);
  auto a = DataKeys::create(crypto::CipherSuite::kAes256Gcm, secrets, true, t);
  auto b = DataKeys::create(crypto::CipherSuite::kAes256Gcm, secrets, false, t);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(openWith(*a, sealWith(*b, 1), t).status, OpenStatus::kOk);  // our phase confirmed
  const std::uint64_t limit = crypto::confidentialityLimit(crypto::CipherSuite::kAes256Gcm);
  const std::uint64_t defaults = (1ull << 32) - (1ull << 16);  // the engine's packet default
  Packet p(protocol::kDataOverhead);
  for (std::uint64_t i = 0; i + 1 < limit / 2; ++i) {
    ASSERT_TRUE(a->seal(true, 42, p, 0));
  }
  EXPECT_FALSE(a->updateDue(t, seconds(120), defaults));
  ASSERT_TRUE(a->seal(true, 42, p, 0));
  EXPECT_TRUE(a->updateDue(t, seconds(120), defaults));
  // Unconfirmed after an update, the next key may not be updated again: it stops at the limit.
  a->initiateUpdate(t);
  Packet first_in_phase = sealWith(*a, 3);
  for (std::uint64_t i = 1; i < limit; ++i) {
    ASSERT_TRUE(a->seal(true, 42, p, 0));
  }
  EXPECT_FALSE(a->updateDue(t, seconds(120), defaults));
  EXPECT_TRUE(a->exhausted());
  EXPECT_FALSE(a->seal(true, 42, p, 0));
  // Once b follows our phase and answers in it, the update goes through and sealing resumes.
  EXPECT_TRUE(openWith(*b, first_in_phase, t).rotated);
  EXPECT_EQ(openWith(*a, sealWith(*b, 4), t).status, OpenStatus::kOk);
  ASSERT_TRUE(a->updateDue(t, seconds(120), defaults));
  a->initiateUpdate(t);
  EXPECT_FALSE(a->exhausted());
  EXPECT_TRUE(a->seal(true, 42, p, 0));
  EXPECT_EQ(a->keyUpdates(), 2u);
}

TEST(DataKeysLimit, ChaChaHasNoPracticalLimit) {
  EXPECT_GT(crypto::confidentialityLimit(crypto::CipherSuite::kChaCha20Poly1305), 1ull << 60);
}

}  // namespace
}  // namespace vpn::session
