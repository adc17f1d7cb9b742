// The IPv6 underlay on a virtual clock: dual-stack peers (one socket, an address of each family)
// and a dual-stack rendezvous (a socket of each family), against the real RendezvousEngine.
// ALSO_HERE gives each peer a reflexive candidate of its other family; a pair that can use both
// settles on IPv6 (RFC 8421) even when IPv4 answers first; an IPv4-only socket never sends to
// IPv6; a pair with no family in common is relayed. No sleeps; loops are bounded in virtual time.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/sim/punch_harness.hpp"

namespace vpn::test {
namespace {

const protocol::Endpoint kRv4 = parseEp("203.0.113.1:7000");
const protocol::Endpoint kRv6 = parseEp("[2001:db8:ffff::1]:7000");

struct DualWorld {
  PunchWorld w;
  DualWorld() { w.rv->addOtherFamily(kRv6); }

  // A peer with one address of each family; it registers over `primary_v6`'s family and tells
  // the server its other one.
  PunchPeer& dual(const std::string& name, const std::string& overlay, const char* v4,
                  const char* v6, bool primary_v6) {
    auto& p = w.addPeer(name, overlay, parseEp(v4));
    p.node->addOtherFamily(parseEp(v6));
    p.options.rendezvous = {client::RendezvousSpec{primary_v6 ? kRv6 : kRv4, std::nullopt,
                                                   std::nullopt, primary_v6 ? kRv4 : kRv6}};
    return p;
  }
  // A peer with one family only, on a socket of that family.
  PunchPeer& single(const std::string& name, const std::string& overlay, const char* at) {
    auto ep = parseEp(at);
    auto& p = w.addPeer(name, overlay, ep);
    p.options.udp_family = ep.address().family();
    p.options.rendezvous = {
        client::RendezvousSpec{ep.address().isV6() ? kRv6 : kRv4, std::nullopt, std::nullopt}};
    return p;
  }
  // Starts everyone; dual peers announce both addresses as local candidates.
  void start() {
    w.startAll();
    for (auto& p : w.peers) {
      if (p->node->otherFamily()) {
        p->node->engine().setLocalCandidates(w.clock.now(),
                                             {p->node->endpoint(), *p->node->otherFamily()});
      }
    }
  }
  client::RendezvousStatus rv(PunchPeer& p) { return p.node->status().rendezvous.at(0); }
  bool onV6(PunchPeer& a, PunchPeer& b) {
    auto s = w.peerStatus(a, b.name);
    return s.path == "direct-udp" && s.endpoint && s.endpoint->address().isV6();
  }
};

TEST(Ipv6Sim, DualStackPeersLearnBothFamiliesAndSettleOnIpv6) {
  DualWorld d;
  auto& alice = d.dual("alice", "10.42.0.1", "192.0.2.10:51820", "[2001:db8:a::10]:51820", false);
  auto& bob = d.dual("bob", "10.42.0.2", "192.0.2.20:51820", "[2001:db8:b::20]:51820", true);
  // IPv6 between them is slower: IPv4 answers first, and the session must still move to IPv6.
  LinkConfig slow;
  slow.delay = milliseconds(60);
  d.w.net.setLink(*alice.node->otherFamily(), *bob.node->otherFamily(), slow);
  d.w.net.setLink(*bob.node->otherFamily(), *alice.node->otherFamily(), slow);
  d.start();
  ASSERT_TRUE(d.w.net.runUntil(
      [&] { return d.rv(alice).reflexive_alt.has_value() && d.rv(bob).reflexive_alt.has_value(); },
      seconds(10)))
      << d.w.describe();
  EXPECT_EQ(d.rv(alice).reflexive, alice.node->endpoint());
  EXPECT_EQ(d.rv(alice).reflexive_alt, alice.node->otherFamily());
  EXPECT_EQ(d.rv(alice).also_at, kRv6);
  EXPECT_EQ(d.rv(bob).reflexive, bob.node->otherFamily());
  EXPECT_EQ(d.rv(bob).reflexive_alt, bob.node->endpoint());
  auto rs = d.w.rv->engine().status(d.w.clock.now());
  EXPECT_GE(rs.counters.also_here, 2u);

  ASSERT_TRUE(d.w.waitEstablished(alice, bob, seconds(10))) << d.w.describe();
  ASSERT_TRUE(d.w.net.runUntil([&] { return d.onV6(alice, bob) && d.onV6(bob, alice); },
                               seconds(12)))
      << d.w.describe();
  EXPECT_TRUE(d.w.dataFlows(alice, bob));
  // It went direct over IPv4 first, then moved.
  auto history = d.w.peerStatus(alice, "bob").history;
  bool moved = std::any_of(history.begin(), history.end(), [](const client::PathEvent& e) {
    return e.reason.find("IPv6 preferred") != std::string::npos ||
           e.reason.find("the peer moved") != std::string::npos;
  });
  EXPECT_TRUE(moved) << d.w.describe();
  // And stays there: no flapping back to IPv4.
  d.w.net.runFor(seconds(60));
  EXPECT_TRUE(d.onV6(alice, bob) && d.onV6(bob, alice)) << d.w.describe();
}

TEST(Ipv6Sim, DualStackPairStaysOnIpv4WhenIpv6IsCut) {
  DualWorld d;
  auto& alice = d.dual("alice", "10.42.0.1", "192.0.2.10:51820", "[2001:db8:a::10]:51820", true);
  auto& bob = d.dual("bob", "10.42.0.2", "192.0.2.20:51820", "[2001:db8:b::20]:51820", true);
  d.w.net.cut(*alice.node->otherFamily(), *bob.node->otherFamily(), true);
  d.start();
  ASSERT_TRUE(d.w.waitEstablished(alice, bob, seconds(10))) << d.w.describe();
  d.w.net.runFor(seconds(30));
  auto s = d.w.peerStatus(alice, "bob");
  EXPECT_EQ(s.path, "direct-udp");
  ASSERT_TRUE(s.endpoint.has_value());
  EXPECT_TRUE(s.endpoint->address().isV4()) << s.endpoint->toString();
  EXPECT_TRUE(d.w.dataFlows(alice, bob));
}

// A dual-stack host whose IPv6 is broken (nothing comes back from the server's IPv6 address):
// 250 ms after the handshake there went unanswered, one to the IPv4 address starts beside it and
// wins. The peer registers within a second, on UDP, not after udp_timeout on TCP or at the 30 s
// refresh; and it still reaches a peer directly.
TEST(Ipv6Sim, BrokenIpv6ToTheRendezvousFallsBackToIpv4InAQuarterSecond) {
  DualWorld d;
  auto& alice = d.dual("alice", "10.42.0.1", "192.0.2.10:51820", "[2001:db8:a::10]:51820", true);
  auto& bob = d.dual("bob", "10.42.0.2", "192.0.2.20:51820", "[2001:db8:b::20]:51820", false);
  d.w.net.cut(*alice.node->otherFamily(), kRv6, true);
  Instant t0 = d.w.clock.now();
  d.start();
  ASSERT_TRUE(d.w.net.runUntil([&] { return d.rv(alice).registered; }, seconds(10)))
      << d.w.describe();
  Duration took = d.w.clock.now() - t0;
  EXPECT_LT(took, seconds(1)) << std::chrono::duration<double>(took).count() << " s";
  auto rs = d.rv(alice);
  EXPECT_EQ(rs.endpoint, kRv6);  // still the server's identity
  EXPECT_EQ(rs.via, kRv4);
  EXPECT_EQ(rs.transport, "udp");
  EXPECT_NE(rs.via_reason.find("answered first"), std::string::npos) << rs.via_reason;
  EXPECT_EQ(rs.reflexive, alice.node->endpoint());
  // bob's IPv6 is fine: no race there.
  EXPECT_FALSE(d.rv(bob).via.has_value());
  ASSERT_TRUE(d.w.waitEstablished(alice, bob, seconds(10))) << d.w.describe();
  EXPECT_EQ(d.w.peerStatus(alice, "bob").path, "direct-udp");
  EXPECT_TRUE(d.w.dataFlows(alice, bob));
  // The session stays on IPv4 (keepalives, refreshes) without going back and forth.
  d.w.net.runFor(seconds(90));
  rs = d.rv(alice);
  EXPECT_TRUE(rs.registered);
  EXPECT_EQ(rs.via, kRv4);
}

// When the preferred address answers, even slowly, no race starts.
TEST(Ipv6Sim, ASlowButWorkingPreferredAddressIsNotRaced) {
  DualWorld d;
  auto& alice = d.dual("alice", "10.42.0.1", "192.0.2.10:51820", "[2001:db8:a::10]:51820", true);
  LinkConfig slow;
  slow.delay = milliseconds(100);  // 200 ms round trip: the answer comes before 250 ms
  d.w.net.setLink(*alice.node->otherFamily(), kRv6, slow);
  d.w.net.setLink(kRv6, *alice.node->otherFamily(), slow);
  d.start();
  ASSERT_TRUE(d.w.net.runUntil([&] { return d.rv(alice).registered; }, seconds(10)))
      << d.w.describe();
  EXPECT_FALSE(d.rv(alice).via.has_value());
  EXPECT_EQ(d.rv(alice).reflexive, alice.node->otherFamily());
}

TEST(Ipv6Sim, AnIpv4SocketNeverSendsToIpv6AndReachesTheDualPeerOverIpv4) {
  DualWorld d;
  // alice registers over IPv6: carol learns alice's IPv4 endpoint only through ALSO_HERE.
  auto& alice = d.dual("alice", "10.42.0.1", "192.0.2.10:51820", "[2001:db8:a::10]:51820", true);
  auto& carol = d.single("carol", "10.42.0.3", "192.0.2.30:51820");
  std::size_t carol_to_v6 = 0;
  d.w.net.on_send = [&](const Datagram& dg) {
    if (dg.from == carol.node->endpoint() && dg.to.address().isV6()) {
      ++carol_to_v6;
    }
  };
  d.start();
  ASSERT_TRUE(d.w.waitEstablished(alice, carol, seconds(10))) << d.w.describe();
  ASSERT_TRUE(d.w.net.runUntil(
      [&] {
        auto s = d.w.peerStatus(carol, "alice");
        return s.path == "direct-udp" && s.endpoint == alice.node->endpoint();
      },
      seconds(10)))
      << d.w.describe();
  EXPECT_TRUE(d.w.dataFlows(alice, carol));
  EXPECT_EQ(carol_to_v6, 0u);
  EXPECT_GE(carol.node->status().candidates_rejected, 1u);  // alice's IPv6 ones
}

TEST(Ipv6Sim, NoCommonFamilyIsRelayedBetweenTheServersTwoSockets) {
  DualWorld d;
  auto& dave = d.single("dave", "10.42.0.4", "[2001:db8:d::4]:51820");
  auto& carol = d.single("carol", "10.42.0.3", "192.0.2.30:51820");
  d.start();
  ASSERT_TRUE(d.w.waitEstablished(dave, carol, seconds(15))) << d.w.describe();
  EXPECT_EQ(d.w.peerStatus(dave, "carol").path, "relay-udp");
  EXPECT_EQ(d.w.peerStatus(carol, "dave").path, "relay-udp");
  EXPECT_TRUE(d.w.dataFlows(dave, carol));
}

}  // namespace
}  // namespace vpn::test
