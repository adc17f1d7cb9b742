// Paths on a virtual clock when UDP or the rendezvous fails (docs/paths.md rules 8 and 9): the
// rendezvous over TCP when a site drops UDP, direct TCP, NAT types in the reason for a relay, the
// rendezvous restarting under a relayed pair, a second rendezvous taking over the relay, the relay
// turned off, and a relay over lossy links. Every loop is bounded by virtual time.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "tests/sim/path_harness.hpp"

namespace vpn::test {
namespace {

// (rule 8) A site whose firewall drops all UDP: alice reaches the rendezvous over TCP after
// udp_timeout, registers there and is relayed over it (relay-tcp); bob, on UDP, sees relay-udp.
// When UDP comes back alice returns to it (retried every minute) and the pair goes direct.
TEST(PathSim, UdpBlockedSiteUsesTheRendezvousOverTcp) {
  Pair p(NatType::kFullCone, NatType::kSymmetric);
  p.nat_a->setBlockUdp(true);
  for (auto* peer : {p.alice, p.bob}) {
    peer->options.rendezvous = {p.w.rv->spec()};
  }
  Instant t0 = p.w.clock.now();
  p.w.startAll();
  ASSERT_TRUE(p.w.net.runUntil([&] { return p.w.registered(*p.alice); }, seconds(5)))
      << p.w.describe();
  auto rs = p.alice->node->status().rendezvous.at(0);
  EXPECT_EQ(rs.transport, "tcp");
  EXPECT_EQ(rs.endpoint, p.w.rv->endpoint());
  EXPECT_NE(rs.last_error.find("no answer over UDP"), std::string::npos) << rs.last_error;
  EXPECT_GE(p.w.clock.now() - t0, seconds(3));
  EXPECT_EQ(p.bob->node->status().rendezvous.at(0).transport, "udp");
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
  EXPECT_EQ(p.bobAtAlice().path, "relay-tcp");
  EXPECT_EQ(p.aliceAtBob().path, "relay-udp");
  EXPECT_EQ(p.bobAtAlice().endpoint, *p.w.rv->tcpEndpoint());
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(20));
  EXPECT_EQ(ping.lostAb(p.w.clock.now() - seconds(20), p.w.clock.now() - seconds(1)), 0u);
  EXPECT_EQ(ping.lostBa(p.w.clock.now() - seconds(20), p.w.clock.now() - seconds(1)), 0u);

  // The connection breaks: alice reconnects over TCP, rebinds and the traffic comes back.
  Instant reset = p.w.clock.now();
  p.w.net.resetTcp(*p.w.rv->tcpEndpoint());
  ping.run(seconds(10));
  EXPECT_TRUE(p.w.established(*p.alice, *p.bob)) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().path, "relay-tcp");
  EXPECT_LE(ping.gapAb(reset), seconds(5)) << p.w.describe();
  EXPECT_EQ(ping.lostAb(reset + seconds(5), p.w.clock.now() - seconds(1)), 0u);

  // UDP comes back: within the minute alice is on UDP again, and full cone x symmetric punches.
  p.nat_a->setBlockUdp(false);
  for (int i = 0; i < 100 && !p.paths("direct-udp", "direct-udp"); ++i) {
    ping.run(seconds(1));
  }
  EXPECT_EQ(p.alice->node->status().rendezvous.at(0).transport, "udp");
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().handshakes, 1u);
  dump(p.w);
}

// (rule 8) Direct TCP: carol is a public host that accepts TCP and announces it; alice's site
// drops UDP. alice opens a TCP connection to carol's tcp candidate: direct-tcp, better than the
// relay over TCP. A peer whose tcp candidate refuses is relayed instead.
TEST(PathSim, TcpCandidateGivesDirectTcpWhereUdpIsBlocked) {
  for (bool listening : {true, false}) {
    PunchWorld w(3);
    auto& nat = w.addNat(NatType::kPortRestrictedCone, 1);
    nat.setBlockUdp(true);
    auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
    auto& carol = w.addPeer("carol", "10.42.0.3", parseEp("192.0.2.3:51820"));
    alice.options.rendezvous = {w.rv->spec()};
    carol.options.rendezvous = {w.rv->spec()};
    auto carol_tcp = parseEp("192.0.2.3:8443");
    if (listening) {
      w.net.listenTcp(carol_tcp, carol.node->endpoint());
    }
    w.startAll();
    carol.node->engine().setTcpCandidates(w.clock.now(), {carol_tcp});
    ASSERT_TRUE(w.waitEstablished(alice, carol, seconds(15))) << w.describe();
    EXPECT_TRUE(w.dataFlows(alice, carol));
    auto ca = w.peerStatus(alice, "carol");
    auto ac = w.peerStatus(carol, "alice");
    auto tcp_candidate = std::find_if(ca.candidates.begin(), ca.candidates.end(),
                                      [](const client::CandidateStatus& c) { return c.kind == "tcp"; });
    ASSERT_NE(tcp_candidate, ca.candidates.end()) << w.describe();
    EXPECT_EQ(tcp_candidate->endpoint, carol_tcp);
    if (listening) {
      EXPECT_EQ(ca.path, "direct-tcp") << w.describe();
      EXPECT_EQ(ac.path, "direct-tcp") << w.describe();
      EXPECT_EQ(ca.endpoint, carol_tcp);
      EXPECT_EQ(ac.endpoint->address().toString(), "198.51.100.1");
      EXPECT_EQ(tcp_candidate->state, "succeeded");
      EXPECT_NE(ca.path_reason.find("direct TCP"), std::string::npos) << ca.path_reason;
    } else {
      EXPECT_EQ(ca.path, "relay-tcp") << w.describe();
      EXPECT_EQ(ac.path, "relay-udp") << w.describe();
      EXPECT_EQ(tcp_candidate->state, "failed");
    }
    PingStream ping(w, alice, carol);
    ping.run(seconds(30));
    EXPECT_EQ(ping.lostAb(w.clock.now() - seconds(30), w.clock.now() - seconds(1)), 0u);
    EXPECT_EQ(ping.lostBa(w.clock.now() - seconds(30), w.clock.now() - seconds(1)), 0u);
    EXPECT_EQ(w.peerStatus(alice, "carol").path, listening ? "direct-tcp" : "relay-tcp");
    EXPECT_EQ(w.peerStatus(alice, "carol").handshakes, 1u);
    dump(w);
  }
}

// NAT types: ours goes out in REGISTER, the peer's comes back in INTRODUCE, and the reason for a
// relay names both.
TEST(PathSim, NatTypesReachThePeerAndExplainTheRelay) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.w.startAll();
  Instant now = p.w.clock.now();
  EXPECT_EQ(p.alice->node->status().nat_type, "unknown");
  p.alice->node->engine().setNatType(now, protocol::NatType::kSymmetric);
  p.bob->node->engine().setNatType(now, protocol::NatType::kSymmetric);
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  EXPECT_EQ(p.alice->node->status().nat_type, "symmetric");
  auto ab = p.bobAtAlice();
  EXPECT_EQ(ab.nat_type, "symmetric");
  EXPECT_NE(ab.path_reason.find("both sides symmetric"), std::string::npos) << ab.path_reason;
  auto rs = p.w.rv->engine().status(p.w.clock.now());
  ASSERT_EQ(rs.peers.size(), 2u);
  EXPECT_EQ(rs.peers[0].nat_type, protocol::NatType::kSymmetric);
  // A change re-registers at once.
  p.bob->node->engine().setNatType(p.w.clock.now(), protocol::NatType::kPortRestrictedCone);
  p.w.net.runFor(milliseconds(200));
  rs = p.w.rv->engine().status(p.w.clock.now());
  EXPECT_EQ(rs.peers[1].name, "bob");
  EXPECT_EQ(rs.peers[1].nat_type, protocol::NatType::kPortRestrictedCone);
}

// The NAT types usually arrive after the relay took over (discovery takes seconds): the reason
// must not keep saying "unknown" once they are known.
TEST(PathSim, RelayReasonFollowsNatTypesLearnedLater) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  auto before = p.bobAtAlice();
  ASSERT_EQ(before.path, "relay-udp");
  EXPECT_EQ(before.path_reason.find("symmetric"), std::string::npos) << before.path_reason;
  p.alice->node->engine().setNatType(p.w.clock.now(), protocol::NatType::kSymmetric);
  auto mine = p.bobAtAlice();
  EXPECT_NE(mine.path_reason.find("our NAT symmetric"), std::string::npos) << mine.path_reason;
  EXPECT_EQ(mine.path_reason.rfind("relayed through ", 0), 0u) << mine.path_reason;
}


// The rendezvous killed and restarted: a relayed pair comes back by itself once it returns.
TEST(PathSim, RelayedPairComesBackAfterTheRendezvousRestarts) {
  Pair p(NatType::kSymmetric, NatType::kPortRestrictedCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  p.w.rv->stop();
  p.w.net.runFor(seconds(60));  // beyond the dead-peer timeout: the relayed session is gone
  EXPECT_FALSE(p.w.established(*p.alice, *p.bob));
  Instant back = p.w.clock.now();
  p.w.rv->start();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(60))) << p.w.describe();
  EXPECT_LE(p.w.clock.now() - back, seconds(40));
  EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
  EXPECT_TRUE(p.paths("relay-udp", "relay-udp"));
  dump(p.w);
}

// The rendezvous restarts while a relayed pair is on relay-udp: both peers fall back to TCP while
// it is down, are relayed over TCP once it is back, and return to relay-udp at the next UDP trial
// (kUdpRetry). Both trials run within moments of each other, so the two switches race; several
// outage lengths shift that race.
TEST(PathSim, RelayedPairReturnsToRelayUdpAfterARestartWithTcpFallback) {
  for (int tenths = 20; tenths <= 120; tenths += 5) {
    SCOPED_TRACE("outage " + std::to_string(tenths) + "00 ms");
    Pair p(NatType::kSymmetric, NatType::kSymmetric, static_cast<std::uint64_t>(tenths));
    for (auto* peer : {p.alice, p.bob}) {
      peer->options.rendezvous = {p.w.rv->spec()};
    }
    p.w.startAll();
    ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(6))) << p.w.describe();
    ASSERT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
    PingStream ping(p.w, *p.alice, *p.bob);
    p.w.rv->stop();
    ping.run(milliseconds(tenths * 100), milliseconds(200));
    p.w.rv->start();
    ping.run(seconds(16), milliseconds(200));
    EXPECT_TRUE(p.w.established(*p.alice, *p.bob)) << p.w.describe();
    EXPECT_EQ(ping.lostAb(p.w.clock.now() - seconds(3), p.w.clock.now() - seconds(1)), 0u)
        << p.w.describe();
    for (int i = 0; i < 100 && !p.paths("relay-udp", "relay-udp"); ++i) {
      ping.run(seconds(1), milliseconds(200));
    }
    EXPECT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
    ping.run(seconds(3), milliseconds(200));
    EXPECT_EQ(ping.lostAb(p.w.clock.now() - seconds(3), p.w.clock.now() - seconds(1)), 0u)
        << p.w.describe();
    if (HasFailure()) {
      return;
    }
  }
}

// (rule 8) A rendezvous down on both transports: the peer alternates UDP and TCP, and the waits
// between attempts keep growing (to kMaxRetryBackoff) instead of restarting at 1 s with each
// switch. Once the server is back it is reached, and over UDP within seconds: the first UDP
// trial after a switch to TCP comes at once, not after a minute.
TEST(PathSim, RendezvousDownOnBothTransportsIsRetriedLessOftenAndUdpComesBackFirst) {
  Pair p(NatType::kFullCone, NatType::kFullCone);
  for (auto* peer : {p.alice, p.bob}) {
    peer->options.rendezvous = {p.w.rv->spec()};
  }
  std::vector<Instant> udp_sends;
  const protocol::Endpoint from = p.alice->node->endpoint();
  p.w.net.on_send = [&](const Datagram& d) {
    if (!d.tcp && d.from == from && d.to == p.w.rv->endpoint()) {
      udp_sends.push_back(p.w.clock.now());
    }
  };
  p.w.rv->stop();
  Instant t0 = p.w.clock.now();
  p.w.startAll();
  p.w.net.runFor(seconds(300));
  auto in = [&](Duration a, Duration b) {
    return std::count_if(udp_sends.begin(), udp_sends.end(),
                         [&](Instant t) { return t >= t0 + a && t < t0 + b; });
  };
  auto first = in(seconds(0), seconds(60));
  auto late = in(seconds(240), seconds(300));
  EXPECT_GT(late, 0) << "UDP is still tried";
  EXPECT_LT(late * 2, first) << "first minute " << first << ", fifth minute " << late;
  EXPECT_NE(p.alice->node->status().rendezvous.at(0).last_error, "");

  Instant back = p.w.clock.now();
  p.w.rv->start();
  auto on_udp = [&] {
    const auto rs = p.alice->node->status().rendezvous.at(0);
    return p.w.registered(*p.alice) && rs.transport == "udp";
  };
  ASSERT_TRUE(p.w.net.runUntil(on_udp, seconds(60))) << p.w.describe();
  // The wait in force when it came back (at most 30 s), a TCP session and a 1 s trial at most.
  EXPECT_LE(p.w.clock.now() - back, seconds(36)) << p.w.describe();
}

// A rendezvous restart of some seconds moves its peers to TCP (UDP went unanswered); once the
// server is back they are on UDP again within seconds, not after kUdpRetry. Outage lengths vary
// whether the server, once back, is first reached over TCP or over UDP.
TEST(PathSim, AfterAShortRestartPeersReturnToUdpWithinSeconds) {
  for (int tenths = 150; tenths <= 250; tenths += 5) {
    SCOPED_TRACE("outage " + std::to_string(tenths) + "00 ms");
    Pair p(NatType::kPortRestrictedCone, NatType::kFullCone, static_cast<std::uint64_t>(tenths));
    for (auto* peer : {p.alice, p.bob}) {
      peer->options.rendezvous = {p.w.rv->spec()};
    }
    p.w.startAll();
    ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(6))) << p.w.describe();
    p.w.rv->stop();
    bool went_tcp = false;
    for (int i = 0; i < tenths; ++i) {
      p.w.net.runFor(milliseconds(100));
      went_tcp = went_tcp || p.alice->node->status().rendezvous.at(0).transport == "tcp";
    }
    // The keepalive (10 s) finds the silence, udp_timeout (3 s) later it is tried over TCP.
    EXPECT_TRUE(went_tcp) << "silence beyond keepalive and udp_timeout";
    Instant back = p.w.clock.now();
    p.w.rv->start();
    bool tcp_after = false;
    auto both_udp = [&] {
      bool all = true;
      for (auto* peer : {p.alice, p.bob}) {
        const auto rs = peer->node->status().rendezvous.at(0);
        tcp_after = tcp_after || (rs.registered && rs.transport == "tcp");
        all = all && p.w.registered(*peer) && rs.transport == "udp";
      }
      return all;
    };
    ASSERT_TRUE(p.w.net.runUntil(both_udp, seconds(90))) << p.w.describe();
    EXPECT_LE(p.w.clock.now() - back, seconds(15))
        << (tcp_after ? "registered over TCP first; " : "") << p.w.describe();
    EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
    if (HasFailure()) {
      return;
    }
  }
}

// (rule 9) Two rendezvous servers: the relay is bound at one; when it stops relaying (it went
// away) the silent relayed path asks the other for a channel and the session moves there, well
// before the dead-peer timeout.
TEST(PathSim, RelayedSessionMovesToAnotherRendezvousWhenItsRelayGoesSilent) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  auto rv2_tls = makeRendezvousContext(p.w.pki, "rendezvous2");
  RendezvousHost rv2(p.w.net, parseEp("203.0.113.2:7000"), *rv2_tls);
  for (auto* peer : {p.alice, p.bob}) {
    peer->options.rendezvous = {p.w.rv->spec(), rv2.spec()};
  }
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(6))) << p.w.describe();
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(2));
  auto first = *p.bobAtAlice().relay;
  ASSERT_TRUE(p.paths("relay-udp", "relay-udp"));
  RendezvousHost& dying = first == p.w.rv->endpoint() ? *p.w.rv : rv2;
  auto other = first == p.w.rv->endpoint() ? rv2.endpoint() : p.w.rv->endpoint();
  Instant gone = p.w.clock.now();
  dying.stop();
  ping.run(seconds(12));
  EXPECT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().endpoint, other) << p.w.describe();
  EXPECT_EQ(p.aliceAtBob().endpoint, other) << p.w.describe();
  EXPECT_LE(ping.gapAb(gone), seconds(7)) << p.w.describe();
  EXPECT_LE(ping.gapBa(gone), seconds(7)) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().handshakes, 1u);
  dump(p.w);
}

// paths.relay = false: we never ask for a channel, so a pair with no direct path stays
// unreachable and says why.
TEST(PathSim, RelayTurnedOffLeavesAnImpossiblePairUnreachable) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.alice->options.relay = false;
  p.bob->options.relay = false;
  p.w.startAll();
  ASSERT_TRUE(p.w.net.runUntil(
      [&] {
        return p.bobAtAlice().state == "unreachable" && p.aliceAtBob().state == "unreachable";
      },
      seconds(20)))
      << p.w.describe();
  auto ab = p.bobAtAlice();
  EXPECT_EQ(ab.relay_state, "none");
  EXPECT_NE(ab.last_error.find("relaying is turned off"), std::string::npos) << ab.last_error;
  EXPECT_EQ(p.w.rv->engine().status(p.w.clock.now()).counters.relay_binds, 0u);
}

// The relay over lossy, reordering, duplicating links: the relayed handshake and data still get
// through (the handshake retransmits; the pair's replay window absorbs duplicates).
TEST(PathSim, RelayWorksOverLossyLinks) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    Pair p(NatType::kSymmetric, NatType::kPortRestrictedCone, seed * 17);
    LinkConfig lossy;
    lossy.loss = 0.15;
    lossy.duplicate = 0.05;
    lossy.reorder = 0.1;
    lossy.jitter = milliseconds(20);
    p.w.net.setLink(lossy);
    p.w.startAll();
    ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(30)))
        << "seed " << seed << "\n" << p.w.describe();
    EXPECT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
    PingStream ping(p.w, *p.alice, *p.bob);
    ping.run(seconds(10));
    // 15% loss on each of two hops: most pings arrive, none twice (duplicated datagrams are
    // replays to the pair's session).
    EXPECT_GE(ping.receivedAb(), ping.sent() / 2) << "seed " << seed;
    EXPECT_GE(ping.receivedBa(), ping.sent() / 2) << "seed " << seed;
    EXPECT_EQ(ping.duplicates(), 0u);
    EXPECT_TRUE(p.w.established(*p.alice, *p.bob));
  }
}

}  // namespace
}  // namespace vpn::test
