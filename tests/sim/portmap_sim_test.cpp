// Port mappings on a virtual clock: a peer whose router forwards its port (what PCP, NAT-PMP or
// UPnP-IGD set up; tests/fakes/simulated_nat.hpp) announces the public endpoint as a candidate of
// kind mapped. Two symmetric NATs, which otherwise end relayed, go direct; one mapped side is
// enough; a mapping that appears while relayed upgrades the pair at the next direct retry, and
// one that appears during a punch is used in that punch.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/sim/path_harness.hpp"

namespace vpn::test {
namespace {

const protocol::Endpoint kAliceMapped = parseEp("198.51.100.1:51820");
const protocol::Endpoint kBobMapped = parseEp("198.51.100.2:51820");

bool hasSucceeded(const client::PeerStatus& ps, const std::string& kind) {
  return std::any_of(ps.candidates.begin(), ps.candidates.end(), [&](const auto& c) {
    return c.kind == kind && c.state == "succeeded";
  });
}

TEST(PortMapSim, SymmetricPairWithMappingsOnBothSidesGoesDirect) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.nat_a->addPortForward(51820, p.alice->node->endpoint());
  p.nat_b->addPortForward(51820, p.bob->node->endpoint());
  p.w.startAll();
  p.alice->node->engine().setMappedCandidate(p.w.clock.now(), kAliceMapped);
  p.bob->node->engine().setMappedCandidate(p.w.clock.now(), kBobMapped);
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  // Bob answers alice's ClientHello (passed on by the rendezvous) at her mapping, the first of
  // her public candidates; alice's side of the session then follows wherever bob's NAT sent that
  // answer from (his mapping, or a port of its own toward alice's mapping). Either way the
  // mappings made it direct.
  EXPECT_TRUE(hasSucceeded(p.aliceAtBob(), "mapped")) << p.w.describe();
  EXPECT_EQ(p.aliceAtBob().endpoint, kAliceMapped) << p.w.describe();
  EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(60), milliseconds(500));
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_EQ(ping.lostAb(p.w.clock.now() - seconds(58), p.w.clock.now() - seconds(1)), 0u);
}

TEST(PortMapSim, OneMappedSideIsEnough) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.nat_a->addPortForward(51820, p.alice->node->endpoint());
  p.w.startAll();
  p.alice->node->engine().setMappedCandidate(p.w.clock.now(), kAliceMapped);
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_EQ(p.aliceAtBob().endpoint, kAliceMapped);
  EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
}

TEST(PortMapSim, AMappingThatAppearsLaterUpgradesARelayedPair) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
  p.nat_b->addPortForward(51820, p.bob->node->endpoint());
  p.bob->node->engine().setMappedCandidate(p.w.clock.now(), kBobMapped);
  PingStream ping(p.w, *p.alice, *p.bob);
  for (int i = 0; i < 120 && !p.paths("direct-udp", "direct-udp"); ++i) {
    ping.run(seconds(1), milliseconds(200));
  }
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().endpoint, kBobMapped);
  EXPECT_EQ(ping.duplicates(), 0u);
  EXPECT_EQ(p.bobAtAlice().handshakes, 1u) << "the same session moved";
}

// The mapping arrives while a punch without it is under way (the router answered after the
// first REGISTER): the peer is told at once, through a fresh introduction, and the punch under
// way probes the new candidate. Direct, never relayed. Without the fresh introduction the punch
// fails, the pair is relayed and goes direct only at the next background retry.
TEST(PortMapSim, AMappingFoundDuringThePunchIsUsedInIt) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.nat_b->addPortForward(51820, p.bob->node->endpoint());
  p.w.startAll();
  ASSERT_TRUE(p.w.net.runUntil(
      [&] { return p.w.registered(*p.alice) && p.w.registered(*p.bob) &&
                   !p.bobAtAlice().candidates.empty(); },
      seconds(5)))
      << p.w.describe();
  p.bob->node->engine().setMappedCandidate(p.w.clock.now(), kBobMapped);
  Instant at = p.w.clock.now();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_LE(p.w.clock.now() - at, seconds(2)) << p.w.describe();
  for (const auto& e : p.bobAtAlice().history) {
    EXPECT_NE(e.to, "relay-udp") << p.w.describe();
  }
}

}  // namespace
}  // namespace vpn::test
