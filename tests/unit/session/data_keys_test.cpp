// DataKeys in isolation: two sides made from the same exported secrets, packets moved by hand so
// reordering across key updates is exact.
#include "session/data_keys.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "crypto/random.hpp"

namespace vpn::session {
namespace {

using Packet = std::vector<std::uint8_t>;

struct Pair {
  Pair() {
    crypto::randomBytes(secrets.client_to_server.bytes);
    crypto::randomBytes(secrets.server_to_client.bytes);
    client = DataKeys::create(crypto::CipherSuite::kChaCha20Poly1305, secrets, true, t);
    server = DataKeys::create(crypto::CipherSuite::kChaCha20Poly1305, secrets, false, t);
  }
  static Packet seal(DataKeys& k, std::uint8_t fill) {
    Packet p(protocol::kDataOverhead + 20, fill);
    EXPECT_TRUE(k.seal(false, 42, p, 20));
    return p;
  }
  static DataKeys::OpenResult open(DataKeys& k, Packet p, Instant now) {
    auto h = protocol::parseDataHeader(p);
    EXPECT_TRUE(h.has_value());
    auto r = k.open(now, *h, p, seconds(2));
    if (r.status == DataKeys::OpenStatus::kOk) {
      EXPECT_EQ(p[protocol::kDataHeaderSize], p[protocol::kDataHeaderSize + 19]);
    }
    return r;
  }
  crypto::SessionSecrets secrets;
  Instant t = Instant{} + seconds(100);
  std::unique_ptr<DataKeys> client, server;
};

TEST(DataKeys, UpdateNeedsConfirmationAndPeerFollows) {
  Pair p;
  ASSERT_TRUE(p.client && p.server);
  // Nothing received yet: no update may start.
  EXPECT_FALSE(p.client->updateDue(p.t + seconds(500), seconds(1), 1000));
  EXPECT_EQ(Pair::open(*p.client, Pair::seal(*p.server, 1), p.t).status, DataKeys::OpenStatus::kOk);
  EXPECT_TRUE(p.client->updateDue(p.t + seconds(1), seconds(1), 1000));
  p.client->initiateUpdate(p.t);
  EXPECT_EQ(p.client->txPhase(), 1);
  EXPECT_FALSE(p.client->updateDue(p.t + seconds(500), seconds(1), 0));  // unconfirmed
  auto r = Pair::open(*p.server, Pair::seal(*p.client, 2), p.t);
  EXPECT_EQ(r.status, DataKeys::OpenStatus::kOk);
  EXPECT_TRUE(r.rotated);
  EXPECT_EQ(p.server->txPhase(), 1);  // the server followed with its send key
  r = Pair::open(*p.client, Pair::seal(*p.server, 3), p.t);
  EXPECT_EQ(r.status, DataKeys::OpenStatus::kOk);
  EXPECT_TRUE(p.client->updateDue(p.t + seconds(1), seconds(1), 1000));  // confirmed again
  EXPECT_EQ(p.client->keyUpdates(), 1u);
  EXPECT_EQ(p.server->keyUpdates(), 1u);
}

TEST(DataKeys, ReorderedOldPhasePacketsOpenWithinGraceOnly) {
  Pair p;
  Pair::open(*p.server, Pair::seal(*p.client, 1), p.t);
  Pair::open(*p.client, Pair::seal(*p.server, 1), p.t);
  Packet old1 = Pair::seal(*p.client, 4);
  Packet old2 = Pair::seal(*p.client, 5);
  p.client->initiateUpdate(p.t);
  Packet fresh = Pair::seal(*p.client, 6);
  EXPECT_TRUE(Pair::open(*p.server, fresh, p.t).rotated);
  EXPECT_EQ(Pair::open(*p.server, old1, p.t + seconds(1)).status, DataKeys::OpenStatus::kOk);
  p.server->expire(p.t + seconds(3));
  EXPECT_EQ(Pair::open(*p.server, old2, p.t + seconds(3)).status,
            DataKeys::OpenStatus::kAuthFailed);
  EXPECT_EQ(Pair::open(*p.server, fresh, p.t).status, DataKeys::OpenStatus::kReplay);
}

TEST(DataKeys, SimultaneousUpdatesConverge) {
  Pair p;
  Pair::open(*p.server, Pair::seal(*p.client, 1), p.t);
  Pair::open(*p.client, Pair::seal(*p.server, 1), p.t);
  p.client->initiateUpdate(p.t);
  p.server->initiateUpdate(p.t);
  Packet c = Pair::seal(*p.client, 2);
  Packet s = Pair::seal(*p.server, 3);
  EXPECT_EQ(Pair::open(*p.server, c, p.t).status, DataKeys::OpenStatus::kOk);
  EXPECT_EQ(Pair::open(*p.client, s, p.t).status, DataKeys::OpenStatus::kOk);
  EXPECT_EQ(p.client->txPhase(), p.server->txPhase());
  EXPECT_EQ(p.client->keyUpdates(), 1u);
  EXPECT_EQ(p.server->keyUpdates(), 1u);
  // And the next generation still works both ways.
  p.client->initiateUpdate(p.t);
  EXPECT_TRUE(Pair::open(*p.server, Pair::seal(*p.client, 7), p.t).rotated);
  EXPECT_EQ(Pair::open(*p.client, Pair::seal(*p.server, 8), p.t).status, DataKeys::OpenStatus::kOk);
}

TEST(DataKeys, ForgedPacketsChangeNothing) {
  Pair p;
  Packet good = Pair::seal(*p.client, 1);
  Packet forged = good;
  forged[0] ^= 1;  // other phase: would try the next key
  EXPECT_EQ(Pair::open(*p.server, forged, p.t).status, DataKeys::OpenStatus::kAuthFailed);
  forged = good;
  forged.back() ^= 0x80;
  EXPECT_EQ(Pair::open(*p.server, forged, p.t).status, DataKeys::OpenStatus::kAuthFailed);
  auto r = Pair::open(*p.server, good, p.t);
  EXPECT_EQ(r.status, DataKeys::OpenStatus::kOk);
  EXPECT_FALSE(r.rotated);
  EXPECT_EQ(p.server->txPhase(), 0);
}

}  // namespace
}  // namespace vpn::session
