// Hole punching on a virtual clock: peers behind simulated NATs register with the real
// RendezvousEngine, get introduced, punch, and establish a direct session (or a relayed one when
// no direct path exists); the NAT-type matrix;
// peers behind one NAT; the rendezvous going away and coming back; identity and garbage checks.
// No sleeps; every loop is bounded by virtual time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "protocol/packet_type.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/sim/punch_harness.hpp"

namespace vpn::test {
namespace {

bool directPathPossible(NatType a, NatType b) {
  auto hard = [](NatType x, NatType y) {
    return x == NatType::kSymmetric &&
           (y == NatType::kSymmetric || y == NatType::kPortRestrictedCone);
  };
  return !hard(a, b) && !hard(b, a);
}

TEST(PunchSim, FullConePairRegistersPunchesAndCarriesData) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  ASSERT_TRUE(w.net.runUntil([&] { return w.registered(alice) && w.registered(bob); }, seconds(10)));
  auto st = alice.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_EQ(st.rendezvous[0].state, "established");
  ASSERT_TRUE(st.rendezvous[0].reflexive.has_value());
  EXPECT_EQ(st.rendezvous[0].reflexive->address().toString(), "198.51.100.1");

  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30)));
  EXPECT_TRUE(w.dataFlows(alice, bob));
  auto pb = w.peerStatus(alice, "bob");
  EXPECT_EQ(pb.path, "direct-udp");
  ASSERT_TRUE(pb.endpoint.has_value());
  EXPECT_EQ(pb.endpoint->address().toString(), "198.51.100.2");
  bool succeeded = std::any_of(pb.candidates.begin(), pb.candidates.end(), [](const auto& c) {
    return c.state == "succeeded" && c.replies > 0;
  });
  EXPECT_TRUE(succeeded);
  // The rendezvous saw both.
  auto rs = w.rv->engine().status(w.clock.now());
  EXPECT_EQ(rs.peers.size(), 2u);
  EXPECT_GE(rs.counters.introductions, 1u);
  // The tunnel stays up well past the NAT mapping timeout (keepalives keep the bindings).
  w.net.runFor(seconds(120));
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.dataFlows(alice, bob, 21));
}

struct Pair {
  NatType a;
  NatType b;
};

class PunchMatrix : public ::testing::TestWithParam<Pair> {};

TEST_P(PunchMatrix, ConnectsOnTheBestPathPossible) {
  auto [ta, tb] = GetParam();
  PunchWorld w(static_cast<std::uint64_t>(ta) * 7 + static_cast<std::uint64_t>(tb));
  w.addNat(ta, 1);
  w.addNat(tb, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  if (directPathPossible(ta, tb)) {
    ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30))) << w.describe();
    EXPECT_TRUE(w.dataFlows(alice, bob));
    EXPECT_EQ(w.peerStatus(alice, "bob").path, "direct-udp");
    EXPECT_EQ(w.peerStatus(bob, "alice").path, "direct-udp");
    if (std::getenv("PUNCH_DUMP") != nullptr) {
      std::printf("%s\n", w.describe().c_str());
    }
    return;
  }
  // No direct path: relayed once relay_after (2 s) has passed, plus a few round trips.
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(4))) << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob));
  for (auto* p : {&alice, &bob}) {
    auto ps = w.peerStatus(*p, p == &alice ? "bob" : "alice");
    EXPECT_EQ(ps.path, "relay-udp") << w.describe();
    EXPECT_EQ(ps.endpoint, w.rv->endpoint());
    EXPECT_EQ(ps.relay_state, "bound");
    EXPECT_NE(ps.relay_channel, 0);
  }
  // Punching runs its course, finds nothing, and the pair stays relayed and honest about it.
  w.net.runFor(seconds(90));
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.dataFlows(alice, bob, 31));
  if (std::getenv("PUNCH_DUMP") != nullptr) {
    std::printf("%s\n", w.describe().c_str());
  }
  for (auto* p : {&alice, &bob}) {
    auto ps = w.peerStatus(*p, p == &alice ? "bob" : "alice");
    EXPECT_EQ(ps.path, "relay-udp");
    EXPECT_NE(ps.path_reason.find("relayed through 203.0.113.1:7000: no candidate answered"),
              std::string::npos)
        << ps.path_reason;
    EXPECT_FALSE(ps.candidates.empty());
    for (const auto& c : ps.candidates) {
      EXPECT_EQ(c.replies, 0u);
    }
    EXPECT_EQ(ps.handshakes, 1u);  // one session throughout
    EXPECT_TRUE(ps.direct_retry_at.has_value());
  }
  auto rs = w.rv->engine().status(w.clock.now());
  EXPECT_GE(rs.counters.introductions, 2u);  // direct paths are retried in the background
  EXPECT_GT(rs.counters.relayed_packets, 0u);
}

std::vector<Pair> allPairs() {
  std::vector<Pair> v;
  for (auto a : {NatType::kFullCone, NatType::kRestrictedCone, NatType::kPortRestrictedCone,
                 NatType::kSymmetric}) {
    for (auto b : {NatType::kFullCone, NatType::kRestrictedCone, NatType::kPortRestrictedCone,
                   NatType::kSymmetric}) {
      v.push_back({a, b});
    }
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllNatPairs, PunchMatrix, ::testing::ValuesIn(allPairs()),
                         [](const ::testing::TestParamInfo<Pair>& param_info) {
                           return std::string(toString(param_info.param.a)) + "_x_" +
                                  toString(param_info.param.b);
                         });

TEST(PunchSim, PeersBehindTheSameNatUseTheirLocalCandidates) {
  PunchWorld w;
  w.addNat(NatType::kSymmetric, 1);  // no hairpin and per-destination mapping: only the LAN works
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.1.3:51820"));
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30)));
  EXPECT_TRUE(w.dataFlows(alice, bob));
  auto pb = w.peerStatus(alice, "bob");
  ASSERT_TRUE(pb.endpoint.has_value());
  EXPECT_EQ(pb.endpoint->toString(), "10.0.1.3:51820");
  auto pa = w.peerStatus(bob, "alice");
  ASSERT_TRUE(pa.endpoint.has_value());
  EXPECT_EQ(pa.endpoint->toString(), "10.0.1.2:51820");
}

TEST(PunchSim, TunnelSurvivesTheRendezvousAndPeersReRegisterWhenItReturns) {
  PunchWorld w;
  w.addNat(NatType::kPortRestrictedCone, 1);
  w.addNat(NatType::kRestrictedCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30)));
  auto handshakes = w.peerStatus(alice, "bob").handshakes;

  w.rv->stop();
  w.net.runFor(seconds(90));  // beyond the dead-peer timeout toward the rendezvous
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.dataFlows(alice, bob));
  EXPECT_EQ(w.peerStatus(alice, "bob").handshakes, handshakes);  // the same session throughout
  auto st = alice.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_EQ(st.rendezvous[0].state, "connecting");
  EXPECT_FALSE(st.rendezvous[0].registered);
  EXPECT_FALSE(st.rendezvous[0].last_error.empty());

  w.rv->start();  // a restarted server: no registrations
  ASSERT_TRUE(
      w.net.runUntil([&] { return w.registered(alice) && w.registered(bob); }, seconds(60)));
  EXPECT_EQ(w.rv->engine().status(w.clock.now()).peers.size(), 2u);
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.dataFlows(alice, bob, 31));
}

TEST(PunchSim, APeerCannotRegisterAsAnother) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  // mallory holds a certificate of our CA, but names herself "bob".
  auto& mallory = w.addPeer("mallory", "10.42.0.9", parseEp("10.0.2.2:51820"));
  mallory.options.own_name = "bob";
  mallory.options.peers = {{"alice", std::nullopt}};
  alice.options.peers = {{"bob", std::nullopt}};
  w.startAll();
  w.net.runFor(seconds(30));
  auto rs = w.rv->engine().status(w.clock.now());
  for (const auto& p : rs.peers) {
    EXPECT_NE(p.name, "bob");  // the name comes from the certificate
  }
  auto pb = w.peerStatus(alice, "bob");
  EXPECT_NE(pb.state, "established");
  EXPECT_NE(pb.last_error.find("rendezvous lookup failed"), std::string::npos) << pb.last_error;
}

TEST(PunchSim, StaticEndpointThatFailsFallsBackToTheRendezvous) {
  PunchWorld w;
  w.addNat(NatType::kRestrictedCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  alice.options.peers = {{"bob", parseEp("192.0.2.99:51820")}};  // stale: nobody there
  bob.options.peers = {{"alice", std::nullopt}};
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(60)));
  EXPECT_TRUE(w.dataFlows(alice, bob));
  auto pb = w.peerStatus(alice, "bob");
  bool has_static = std::any_of(pb.candidates.begin(), pb.candidates.end(),
                                [](const auto& c) { return c.kind == "static"; });
  EXPECT_TRUE(has_static);
}

TEST(PunchSim, GarbageProbesAndControlPacketsAreCountedAndDropped) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30)));
  w.net.runFor(seconds(20));  // let the introductions expire
  auto before = alice.node->status();
  std::mt19937_64 rng(5);
  const int kProbes = 40;
  for (int i = 0; i < kProbes; ++i) {
    std::vector<std::uint8_t> probe(29);
    for (auto& b : probe) {
      b = static_cast<std::uint8_t>(rng());
    }
    probe[0] = (i % 2 == 0) ? protocol::kTypeProbe : protocol::kTypeProbeReply;
    w.net.inject(parseEp("10.0.1.77:4000"), alice.node->endpoint(), probe);
  }
  const int kShort = 5;
  for (int i = 0; i < kShort; ++i) {
    w.net.inject(parseEp("10.0.1.77:4000"), alice.node->endpoint(),
                 {protocol::kTypeProbe, 1, 2, 3});
  }
  const int kControl = 10;
  for (int i = 0; i < kControl; ++i) {
    std::vector<std::uint8_t> c(64);
    for (auto& b : c) {
      b = static_cast<std::uint8_t>(rng());
    }
    c[0] = protocol::kTypeControl;
    w.net.inject(parseEp("10.0.1.77:4000"), alice.node->endpoint(), c);
  }
  w.net.runFor(seconds(1));
  auto after = alice.node->status();
  EXPECT_EQ(after.drop("punch_rejected") - before.drop("punch_rejected"),
            static_cast<std::uint64_t>(kProbes));
  EXPECT_EQ(after.drop("malformed") - before.drop("malformed"), static_cast<std::uint64_t>(kShort));
  EXPECT_EQ(after.drop("control_rejected") - before.drop("control_rejected"),
            static_cast<std::uint64_t>(kControl));
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.dataFlows(alice, bob));
}

TEST(PunchSim, TunPacketForAnUnroutedAddressLooksItUpAndConnects) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kRestrictedCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  // Both have stale static endpoints and a long handshake timeout, so neither looks the other up
  // by name for a while: only the address lookup can bring them together quickly.
  for (auto* p : {&alice, &bob}) {
    p->options.handshake_timeout = seconds(60);
  }
  alice.options.peers = {{"bob", parseEp("192.0.2.98:51820")}};
  bob.options.peers = {{"alice", parseEp("192.0.2.99:51820")}};
  w.startAll();
  ASSERT_TRUE(w.net.runUntil([&] { return w.registered(alice) && w.registered(bob); }, seconds(10)));
  EXPECT_EQ(w.rv->engine().status(w.clock.now()).counters.lookups, 0u);
  auto first = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(1));
  auto second = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(2));
  bob.node->tun.clear();
  alice.node->sendTun(first);
  alice.node->sendTun(second);  // its lookup is rate-limited; the packet waits all the same
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(10))) << w.describe();
  EXPECT_EQ(w.rv->engine().status(w.clock.now()).counters.lookups, 1u);
  // Held while bob was being found, then delivered in order: an application's first packet (a
  // ping, a TCP SYN) is not lost to the set-up.
  ASSERT_TRUE(w.net.runUntil([&] { return bob.node->tun.size() >= 2; }, seconds(2)));
  EXPECT_EQ(bob.node->tun[0], first);
  EXPECT_EQ(bob.node->tun[1], second);
  EXPECT_EQ(alice.node->status().drop("no_route"), 0u);
  EXPECT_TRUE(w.dataFlows(alice, bob));
}

TEST(PunchSim, UnroutedPacketsAreHeldOnlyWhileSomethingConnects) {
  PunchWorld w;
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("192.0.2.1:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("192.0.2.2:51820"));
  alice.options.rendezvous.clear();
  bob.options.rendezvous.clear();
  alice.options.peers = {{"bob", bob.node->endpoint()}};
  bob.options.peers = {{"alice", alice.node->endpoint()}};
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(5))) << w.describe();
  // Nothing is connecting and there is no rendezvous to ask: an address no certificate gave
  // anyone is dropped at once, as before.
  for (std::uint64_t i = 0; i < 3; ++i) {
    alice.node->sendTun(makeIpv4("10.42.0.1", "10.42.0.77", numberedPayload(100 + i)));
  }
  EXPECT_EQ(alice.node->status().drop("no_route"), 3u);
  EXPECT_TRUE(w.dataFlows(alice, bob));
}

TEST(PunchSim, MulticastIsNeverHeldWhilePeersConnect) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kRestrictedCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  // At once, while alice is still looking bob up: the kernel's multicast chatter on a new
  // interface is dropped, and does not take the slots a first ping or SYN needs.
  for (std::uint64_t i = 0; i < 20; ++i) {
    alice.node->sendTun(makeIpv4("10.42.0.1", "224.0.0.22", numberedPayload(200 + i)));
  }
  EXPECT_EQ(alice.node->status().drop("no_route"), 20u);
  auto first = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(1));
  alice.node->sendTun(first);
  EXPECT_EQ(alice.node->status().drop("no_route"), 20u);
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(10))) << w.describe();
  ASSERT_TRUE(w.net.runUntil([&] { return !bob.node->tun.empty(); }, seconds(2)));
  EXPECT_EQ(bob.node->tun[0], first);
}

TEST(PunchSim, APeerWithTheRendezvousRoleIsRejectedAsAPeer) {
  PunchWorld w;
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("192.0.2.1:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("192.0.2.2:51820"));
  bob.tls = makeRendezvousContext(w.pki, "bob");
  alice.options.rendezvous.clear();
  bob.options.rendezvous.clear();
  alice.options.peers = {{"bob", bob.node->endpoint()}};
  bob.options.peers = {{"alice", alice.node->endpoint()}};
  w.startAll();
  w.net.runFor(seconds(5));
  auto pb = w.peerStatus(alice, "bob");
  EXPECT_NE(pb.state, "established");
  EXPECT_NE(pb.last_error.find("carries the rendezvous role"), std::string::npos) << pb.last_error;
}

TEST(PunchSim, SetRendezvousAndSetLocalCandidatesTakeEffect) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  alice.options.rendezvous = {{parseEp("203.0.113.50:7000"), std::nullopt}};  // nobody there
  w.startAll();
  w.net.runFor(seconds(15));
  auto st = alice.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_EQ(st.rendezvous[0].state, "connecting");
  EXPECT_NE(st.rendezvous[0].last_error.find("timed out"), std::string::npos)
      << st.rendezvous[0].last_error;

  alice.node->engine().setRendezvous(w.clock.now(), {{w.rv->endpoint(), std::nullopt}});
  ASSERT_TRUE(w.net.runUntil([&] { return w.registered(alice); }, seconds(10)));
  st = alice.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_EQ(st.rendezvous[0].endpoint, w.rv->endpoint());
  auto rs = w.rv->engine().status(w.clock.now());
  ASSERT_EQ(rs.peers.size(), 1u);
  ASSERT_EQ(rs.peers[0].candidates.size(), 1u);
  EXPECT_EQ(rs.peers[0].candidates[0].endpoint, parseEp("10.0.1.2:51820"));

  alice.node->engine().setLocalCandidates(w.clock.now(), {parseEp("10.0.1.2:51820"),
                                                          parseEp("10.0.1.200:51820")});
  w.net.runFor(seconds(1));
  rs = w.rv->engine().status(w.clock.now());
  ASSERT_EQ(rs.peers.size(), 1u);
  EXPECT_EQ(rs.peers[0].candidates.size(), 2u);
}

TEST(PunchSim, APeerRestartingBehindANatIsReachedAgainQuickly) {
  PunchWorld w;
  w.addNat(NatType::kPortRestrictedCone, 1);
  w.addNat(NatType::kPortRestrictedCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30)));
  auto before = w.peerStatus(alice, "bob").handshakes;
  // bob restarts (new engine, new indices, no session); alice still holds the old session.
  // Well within alice's 40 s dead-peer timeout, bob's introduction must bring them together.
  w.start(bob);
  ASSERT_TRUE(w.net.runUntil(
      [&] { return w.established(alice, bob) && w.peerStatus(alice, "bob").handshakes > before; },
      seconds(20)))
      << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob));
  // And the same with the other side restarting.
  before = w.peerStatus(bob, "alice").handshakes;
  w.start(alice);
  ASSERT_TRUE(w.net.runUntil(
      [&] { return w.established(alice, bob) && w.peerStatus(bob, "alice").handshakes > before; },
      seconds(20)))
      << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob, 41));
}

TEST(PunchSim, LossyLinksStillPunchThroughEveryPossiblePair) {
  for (auto [ta, tb] : {std::pair{NatType::kFullCone, NatType::kSymmetric},
                        std::pair{NatType::kSymmetric, NatType::kRestrictedCone},
                        std::pair{NatType::kPortRestrictedCone, NatType::kPortRestrictedCone}}) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      PunchWorld w(seed * 31);
      LinkConfig lossy;
      lossy.loss = 0.15;
      lossy.duplicate = 0.05;
      lossy.reorder = 0.1;
      lossy.jitter = milliseconds(20);
      w.net.setLink(lossy);
      w.addNat(ta, 1);
      w.addNat(tb, 2);
      auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
      auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
      w.startAll();
      ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(60)))
          << toString(ta) << " x " << toString(tb) << " seed " << seed << "\n" << w.describe();
    }
  }
}

TEST(PunchSim, TwoRendezvousServersAndOneOfThemDown) {
  PunchWorld w;
  auto rv2_tls = makeRendezvousContext(w.pki, "rendezvous2");
  RendezvousHost rv2(w.net, parseEp("203.0.113.2:7000"), *rv2_tls);
  w.addNat(NatType::kRestrictedCone, 1);
  w.addNat(NatType::kSymmetric, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  for (auto* p : {&alice, &bob}) {
    p->options.rendezvous = {{w.rv->endpoint(), std::nullopt}, {rv2.endpoint(), std::nullopt}};
  }
  w.rv->stop();  // the first one is down from the start
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30))) << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob));
  auto st = alice.node->status();
  ASSERT_EQ(st.rendezvous.size(), 2u);
  int registered = 0;
  for (const auto& r : st.rendezvous) {
    registered += r.registered ? 1 : 0;
  }
  EXPECT_EQ(registered, 1);
  EXPECT_GE(rv2.engine().status(w.clock.now()).counters.introductions, 1u);
  // Both up: both register; a peer restart is then introduced by both, and still converges.
  w.rv->start();
  ASSERT_TRUE(w.net.runUntil(
      [&] {
        auto s = bob.node->status();
        return s.rendezvous.size() == 2 && s.rendezvous[0].registered && s.rendezvous[1].registered;
      },
      seconds(60)));
  auto before = w.peerStatus(alice, "bob").handshakes;
  w.start(bob);
  ASSERT_TRUE(w.net.runUntil(
      [&] { return w.established(alice, bob) && w.peerStatus(alice, "bob").handshakes > before; },
      seconds(30)))
      << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob, 51));
}

TEST(PunchSim, ACandidateEqualToOurOwnAddressIsNeverProbed) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  w.startAll();
  // bob's LAN uses the same private range as alice's: one of his local candidates is alice's own
  // address. alice must not probe (and answer) herself.
  bob.node->engine().setLocalCandidates(w.clock.now(), {parseEp("10.0.1.2:51820"),
                                                        parseEp("10.0.2.2:51820")});
  std::uint64_t to_self = 0;
  w.net.on_send = [&](const Datagram& d) {
    if (d.from == alice.node->endpoint() && d.to == alice.node->endpoint()) {
      ++to_self;
    }
  };
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(30))) << w.describe();
  EXPECT_EQ(to_self, 0u);
  auto pb = w.peerStatus(alice, "bob");
  for (const auto& c : pb.candidates) {
    EXPECT_NE(c.endpoint, alice.node->endpoint());
  }
  ASSERT_TRUE(pb.endpoint.has_value());
  EXPECT_EQ(pb.endpoint->address().toString(), "198.51.100.2");
  EXPECT_TRUE(w.dataFlows(alice, bob));
}

TEST(PunchSim, ThreePeersMixedNatsAndAPublicPeerWithAStaticEndpoint) {
  PunchWorld w;
  w.addNat(NatType::kSymmetric, 1);
  w.addNat(NatType::kPortRestrictedCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  auto& carol = w.addPeer("carol", "10.42.0.3", parseEp("192.0.2.3:51820"));  // no NAT
  alice.options.peers = {{"bob", std::nullopt}, {"carol", carol.node->endpoint()}};
  bob.options.peers = {{"alice", std::nullopt}, {"carol", carol.node->endpoint()}};
  carol.options.peers = {{"alice", std::nullopt}, {"bob", std::nullopt}};
  w.startAll();
  ASSERT_TRUE(w.net.runUntil(
      [&] { return w.established(alice, carol) && w.established(bob, carol); }, seconds(30)))
      << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, carol));
  EXPECT_TRUE(w.dataFlows(bob, carol, 61));
  // carol reached through the static endpoint. carol, who has no endpoint for alice, asks the
  // rendezvous for her as soon as its session is up, so alice may be introduced and probe carol
  // too; the session stays on the static endpoint, the candidate that succeeded.
  EXPECT_EQ(w.peerStatus(alice, "carol").endpoint, carol.node->endpoint());
  auto cs = w.peerStatus(alice, "carol").candidates;
  auto at = std::find_if(cs.begin(), cs.end(),
                         [&](const auto& c) { return c.endpoint == carol.node->endpoint(); });
  ASSERT_NE(at, cs.end()) << w.describe();
  EXPECT_EQ(at->state, "succeeded");
  // symmetric x port-restricted has no direct path: relayed.
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(10))) << w.describe();
  EXPECT_EQ(w.peerStatus(alice, "bob").path, "relay-udp");
  EXPECT_TRUE(w.dataFlows(alice, bob, 71));
  w.net.runFor(seconds(40));
  EXPECT_TRUE(w.established(alice, bob));
  EXPECT_TRUE(w.established(alice, carol));
  EXPECT_TRUE(w.established(bob, carol));
}

// Finding 4: a punch reply was accepted from any source and never matched to a probe we sent, and
// the first one decided where the handshake went. An on-path attacker who copies bob's reply and
// sends it from elsewhere (and holds the real one back) pointed alice's handshake at itself. Now a
// reply counts only from where our probe went, once; alice connects to the real bob and never
// sends to the attacker.
TEST(PunchSim, ReplayedProbeReplyFromElsewhereIsIgnored) {
  PunchWorld w;
  w.addNat(NatType::kFullCone, 1);
  w.addNat(NatType::kFullCone, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  // Through the rendezvous alice's ClientHello is answered before any probe reply reaches her,
  // and a reply after the session is up is merely late: without it the reply still decides.
  alice.options.hello_via_rendezvous = false;
  const auto attacker = parseEp("203.0.113.66:4444");
  const auto alice_public = *protocol::IpAddress::parse("198.51.100.1");
  auto route = w.net.on_route;
  bool replayed = false;
  std::size_t to_attacker = 0;
  w.net.on_route = [&](Datagram& d) {
    if (d.to == attacker) {
      ++to_attacker;
    }
    if (!replayed && !d.bytes.empty() && d.bytes[0] == protocol::kTypeProbeReply &&
        d.to.address() == alice_public) {
      replayed = true;
      w.net.inject(attacker, d.to, d.bytes);  // the copy, from elsewhere
      return false;                           // the original is held back
    }
    return route(d);
  };
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(10))) << w.describe();
  EXPECT_TRUE(replayed);
  EXPECT_EQ(to_attacker, 0u);
  auto pb = w.peerStatus(alice, "bob");
  ASSERT_TRUE(pb.endpoint.has_value());
  EXPECT_EQ(pb.endpoint->address().toString(), "198.51.100.2");
  EXPECT_GE(alice.node->status().drop("punch_rejected"), 1u);
  EXPECT_TRUE(w.dataFlows(alice, bob));
}

}  // namespace
}  // namespace vpn::test
