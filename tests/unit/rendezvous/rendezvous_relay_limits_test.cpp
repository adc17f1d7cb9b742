// Relay limits at the rendezvous: requests share the lookup bucket, bytes per sender, per
// receiver and for everyone, datagrams over the burst, the byte quota, and idle channels freed.
#include <gtest/gtest.h>

#include "tests/unit/rendezvous/relay_helpers.hpp"

namespace vpn::test {
namespace {

using namespace relay;  // NOLINT: the helpers of these tests (and their protocol names)

TEST(RendezvousRelay, RequestsShareTheLookupRateLimit) {
  rendezvous::RendezvousOptions o;
  o.lookup_burst = 3;
  o.lookup_per_second = 0.5;
  RvHarness h(o);
  auto& alice = addRegistered(h, "alice", "198.51.100.7:40001");
  auto& bob = addRegistered(h, "bob", "192.0.2.9:61000");
  h.send(bob, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(1, "alice", s); });  // consents
  for (std::uint32_t i = 1; i <= 5; ++i) {
    h.send(alice, [&](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(i, "bob", s); });
  }
  EXPECT_EQ(h.dropCount("relay_request_rate_limited"), 2u);
  EXPECT_EQ(lastOf<RelayBoundMsg>(alice.peer->inbox)->request_id, 3u);
  h.clock.advance(seconds(2));
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(9, "bob", s); });
  EXPECT_EQ(lastOf<RelayBoundMsg>(alice.peer->inbox)->request_id, 9u);
}

TEST(RendezvousRelay, ByteRateIsLimitedPerSender) {
  rendezvous::RendezvousOptions o;
  o.relay_rate = 1000;   // bytes per second
  o.relay_burst = 3000;
  RvHarness h(o);
  auto p = boundPair(h);
  auto packet = relayPacket(p.channel, protocol::kTypeData, 997);  // 1000 bytes in all
  for (int i = 0; i < 5; ++i) {
    h.sendRaw(*p.alice, packet);
  }
  EXPECT_EQ(p.bob->relayed.size(), 3u);
  EXPECT_EQ(h.dropCount("relay_rate_limited"), 2u);
  // bob has his own bucket.
  h.sendRaw(*p.bob, packet);
  EXPECT_EQ(p.alice->relayed.size(), 1u);
  // One second refills one packet's worth.
  h.clock.advance(seconds(1));
  h.sendRaw(*p.alice, packet);
  h.sendRaw(*p.alice, packet);
  EXPECT_EQ(p.bob->relayed.size(), 4u);
  EXPECT_EQ(h.dropCount("relay_rate_limited"), 3u);
  // A long pause refills only up to the burst.
  h.clock.advance(seconds(60));
  for (int i = 0; i < 5; ++i) {
    h.sendRaw(*p.alice, packet);
  }
  EXPECT_EQ(p.bob->relayed.size(), 7u);
}

// Limits per sender only let many senders flood one receiver, and all of them the server.
TEST(RendezvousRelay, ByteRateIsLimitedPerReceiverAndForEveryone) {
  rendezvous::RendezvousOptions o;
  o.relay_rate = 1000;
  o.relay_burst = 3000;
  RvHarness h(o);
  auto p = boundPair(h);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(1, "bob", s); });
  h.send(*p.bob, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(2, "carol", s); });
  std::uint16_t carol_ch = lastOf<RelayBoundMsg>(carol.peer->inbox)->channel;
  // alice and carol each have 3000 bytes to send; bob may receive 3000 in all.
  for (int i = 0; i < 3; ++i) {
    h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 997));
    h.sendRaw(carol, relayPacket(carol_ch, protocol::kTypeData, 997));
  }
  EXPECT_EQ(p.bob->relayed.size(), 3u);
  EXPECT_EQ(h.dropCount("relay_rate_limited_receiver"), 3u);

  rendezvous::RendezvousOptions g;
  g.relay_global_rate = 1000;
  g.relay_global_burst = 2000;
  RvHarness h2(g);
  auto q = boundPair(h2);
  for (int i = 0; i < 2; ++i) {
    h2.sendRaw(*q.alice, relayPacket(q.channel, protocol::kTypeData, 997));
    h2.sendRaw(*q.bob, relayPacket(q.channel, protocol::kTypeData, 997));
  }
  EXPECT_EQ(q.alice->relayed.size() + q.bob->relayed.size(), 2u);
  EXPECT_EQ(h2.dropCount("relay_rate_limited_global"), 2u);
}

// Channels were freed only when a record went away, so a hub filled its table for good.
TEST(RendezvousRelay, ChannelsNobodyUsesAreFreed) {
  rendezvous::RendezvousOptions o;
  o.relay_idle = seconds(30);
  o.refresh = seconds(20);
  RvHarness h(o);
  auto p = boundPair(h);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(1, "bob", s); });  // an offer
  EXPECT_EQ(peerStatus(h.engine->status(h.clock.now()), "bob")->relay_channels, 2u);
  // alice keeps her channel busy; carol's offer and its channel are left alone.
  for (int i = 0; i < 5; ++i) {
    h.run(seconds(10));
    h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 40));
    for (auto* n : {p.alice, p.bob, &carol}) {
      h.send(*n, [&](RvTestPeer& pr, auto& s) { pr.sendProbe(static_cast<unsigned>(i), s); });
    }
  }
  auto st = h.engine->status(h.clock.now());
  EXPECT_EQ(peerStatus(st, "bob")->relay_channels, 1u);
  EXPECT_EQ(peerStatus(st, "carol")->relay_channels, 0u);
  EXPECT_EQ(st.counters.relay_idle_freed, 1u);
  EXPECT_EQ(p.bob->relayed.size(), 5u);
}

TEST(RendezvousRelay, ADatagramOverTheBurstPassesOnlyFromAFullBucket) {
  rendezvous::RendezvousOptions o;
  o.relay_rate = 100;
  o.relay_burst = 500;
  RvHarness h(o);
  auto p = boundPair(h);
  auto big = relayPacket(p.channel, protocol::kTypeData, 1200);
  h.sendRaw(*p.alice, big);
  h.sendRaw(*p.alice, big);
  EXPECT_EQ(p.bob->relayed.size(), 1u);
  h.clock.advance(seconds(5));
  h.sendRaw(*p.alice, big);
  EXPECT_EQ(p.bob->relayed.size(), 2u);
}

TEST(RendezvousRelay, ByteQuotaPerSession) {
  rendezvous::RendezvousOptions o;
  o.relay_max_bytes = 2500;
  RvHarness h(o);
  auto p = boundPair(h);
  auto packet = relayPacket(p.channel, protocol::kTypeData, 997);
  for (int i = 0; i < 3; ++i) {
    h.sendRaw(*p.alice, packet);
  }
  EXPECT_EQ(p.bob->relayed.size(), 2u);
  EXPECT_EQ(h.dropCount("relay_quota"), 1u);
  h.clock.advance(seconds(10));  // time refills no quota
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 497));  // exactly the rest
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 1));
  EXPECT_EQ(p.bob->relayed.size(), 3u);
  EXPECT_EQ(h.dropCount("relay_quota"), 2u);
  EXPECT_EQ(peerStatus(h.engine->status(h.clock.now()), "alice")->relayed_bytes, 2500u);
}

}  // namespace
}  // namespace vpn::test
