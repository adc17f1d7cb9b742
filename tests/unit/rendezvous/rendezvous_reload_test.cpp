// A reload at the rendezvous (RendezvousEngine::setLimits): relay turned off stops forwarding at
// once and on again resumes it on the same channel; new byte limits apply to open channels; a
// shorter refresh does not expire peers that were told the longer one; handshake limits change.
#include <gtest/gtest.h>

#include "tests/unit/rendezvous/relay_helpers.hpp"

namespace vpn::test {
namespace {

using namespace relay;  // NOLINT: the helpers of these tests (and their protocol names)

TEST(RendezvousReload, RelayOffStopsForwardingAndOnResumesIt) {
  RvHarness h;
  auto p = boundPair(h);
  auto packet = relayPacket(p.channel, protocol::kTypeData, 200);
  h.sendRaw(*p.alice, packet);
  ASSERT_EQ(p.bob->relayed.size(), 1u);

  rendezvous::RendezvousOptions off;
  off.relay = false;
  h.engine->setLimits(h.clock.now(), off);
  h.sendRaw(*p.alice, packet);
  EXPECT_EQ(p.bob->relayed.size(), 1u);
  EXPECT_EQ(h.dropCount("relay_disabled"), 1u);
  h.send(*p.alice, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(7, "bob", s); });
  const auto* failed = lastOf<RelayFailedMsg>(p.alice->peer->inbox);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, RelayFailure::kDisabled);

  h.engine->setLimits(h.clock.now(), rendezvous::RendezvousOptions{});
  h.sendRaw(*p.alice, packet);
  EXPECT_EQ(p.bob->relayed.size(), 2u);
}

TEST(RendezvousReload, NewByteLimitsApplyToOpenChannels) {
  RvHarness h;
  auto p = boundPair(h);
  auto packet = relayPacket(p.channel, protocol::kTypeData, 997);  // 1000 bytes
  for (int i = 0; i < 5; ++i) {
    h.sendRaw(*p.alice, packet);
  }
  ASSERT_EQ(p.bob->relayed.size(), 5u);  // the default burst is 1 MB

  rendezvous::RendezvousOptions tight;
  tight.relay_max_bytes = 6500;  // this session has sent 5000
  h.engine->setLimits(h.clock.now(), tight);
  h.sendRaw(*p.alice, packet);
  h.sendRaw(*p.alice, packet);
  EXPECT_EQ(p.bob->relayed.size(), 6u);
  EXPECT_EQ(h.dropCount("relay_quota"), 1u);
}

TEST(RendezvousReload, ShorterRefreshExpiresOnlyOnceEveryPeerHeardIt) {
  rendezvous::RendezvousOptions o;
  o.refresh = seconds(30);
  RvHarness h(o);
  addRegistered(h, "alice", "198.51.100.7:40001");
  addRegistered(h, "bob", "192.0.2.9:61000");
  rendezvous::RendezvousOptions shorter;
  shorter.refresh = seconds(5);
  h.engine->setLimits(h.clock.now(), shorter);
  // Both were told 30 s and go silent: the new 15 s lifetime must not apply to them yet.
  h.run(seconds(40));
  EXPECT_EQ(h.engine->status(h.clock.now()).registered, 2u);
  h.run(seconds(55));  // 95 s: past three of the old refreshes
  EXPECT_EQ(h.engine->status(h.clock.now()).registered, 0u);
  // Someone registering now hears 5 s.
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");
  const auto* reg = lastOf<protocol::RegisteredMsg>(carol.peer->inbox);
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(reg->refresh_seconds, 5);
  h.run(seconds(20));
  EXPECT_EQ(h.engine->status(h.clock.now()).registered, 0u);
}

TEST(RendezvousReload, HandshakeLimitsChange) {
  rendezvous::RendezvousOptions o;
  o.cookieless_per_second = 0;  // every source meets the global bucket
  o.handshake_global_burst = 1;
  o.handshake_global_per_second = 0.001;
  RvHarness h(o);
  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, ep("198.51.100.7:40001"));
  auto& bob = h.addPeer("bob", {"10.42.0.2/24"}, ep("192.0.2.9:61000"));
  auto& carol = h.addPeer("carol", {"10.42.0.3/24"}, ep("203.0.113.77:5000"));
  h.start(alice);
  h.start(bob);
  EXPECT_GE(h.dropCount("handshake_rate_global"), 1u);
  EXPECT_EQ(h.engine->status(h.clock.now(), false).sessions, 1u);
  EXPECT_FALSE(bob.peer->established());
  h.engine->setLimits(h.clock.now(), rendezvous::RendezvousOptions{});  // the defaults: 200
  // The bucket refills at the new rate from here; a second later there is room.
  h.clock.advance(seconds(1));
  h.start(carol);
  EXPECT_TRUE(carol.peer->established());
}

}  // namespace
}  // namespace vpn::test
