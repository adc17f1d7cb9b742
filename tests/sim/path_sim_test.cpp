// Paths on a virtual clock (docs/paths.md): peers behind simulated NATs and the real
// RendezvousEngine. Relay fallback and the first packets, the standby relay, upgrade to a direct
// path without a new handshake, demotion of a silent direct path, hold-down against flapping,
// dual-send while the peer's newest packet came over the relay, roaming to another NAT site,
// the rendezvous over TCP when UDP is blocked, and direct TCP. Every loop is bounded by virtual time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "client/engine/path.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/sim/punch_harness.hpp"

namespace vpn::test {
namespace {

// Numbered pings both ways at a fixed interval, with the arrival time of each (to the interval).
class PingStream {
 public:
  PingStream(PunchWorld& w, PunchPeer& a, PunchPeer& b) : w_(w), a_(a), b_(b) {}

  void run(Duration d, Duration interval = milliseconds(50)) {
    Instant end = w_.clock.now() + d;
    while (w_.clock.now() < end) {
      std::uint64_t seq = next_++;
      a_.node->sendTun(makeIpv4(a_.overlay, b_.overlay, numberedPayload(seq)));
      b_.node->sendTun(makeIpv4(b_.overlay, a_.overlay, numberedPayload(seq)));
      sent_[seq] = w_.clock.now();
      w_.net.runFor(interval);
      collect(b_, got_ab_);
      collect(a_, got_ba_);
    }
  }
  // Sent in [from, to) and never arrived, one direction.
  std::size_t lostAb(Instant from, Instant to) const { return lost(got_ab_, from, to); }
  std::size_t lostBa(Instant from, Instant to) const { return lost(got_ba_, from, to); }
  // The longest wait, after `from`, between a packet's send and the next arrival (one direction).
  Duration gapAb(Instant from) const { return gap(got_ab_, from); }
  Duration gapBa(Instant from) const { return gap(got_ba_, from); }
  std::size_t sent() const { return sent_.size(); }
  std::size_t receivedAb() const { return got_ab_.size(); }
  std::size_t receivedBa() const { return got_ba_.size(); }
  std::size_t duplicates() const { return duplicates_; }  // inner packets delivered twice

 private:
  void collect(PunchPeer& at, std::map<std::uint64_t, Instant>& got) {
    for (const auto& p : at.node->tun) {
      if (!got.emplace(sequenceOfIpv4(p), w_.clock.now()).second) {
        ++duplicates_;
      }
    }
    at.node->tun.clear();
  }
  std::size_t lost(const std::map<std::uint64_t, Instant>& got, Instant from, Instant to) const {
    std::size_t n = 0;
    for (const auto& [seq, at] : sent_) {
      if (at >= from && at < to && got.count(seq) == 0) {
        ++n;
      }
    }
    return n;
  }
  Duration gap(const std::map<std::uint64_t, Instant>& got, Instant from) const {
    Instant last = from;
    Duration worst{};
    for (const auto& [seq, at] : got) {
      if (at < from) {
        continue;
      }
      worst = std::max(worst, at - last);
      last = at;
    }
    return std::max(worst, w_.clock.now() - last);
  }

  PunchWorld& w_;
  PunchPeer& a_;
  PunchPeer& b_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, Instant> sent_;
  std::map<std::uint64_t, Instant> got_ab_, got_ba_;
  std::size_t duplicates_ = 0;
};

// PATH_DUMP=1 prints every peer's view at the end of a test.
void dump(PunchWorld& w) {
  if (std::getenv("PATH_DUMP") != nullptr) {
    std::printf("%s\n", w.describe().c_str());
  }
}

std::size_t countEvents(const client::PeerStatus& ps, const std::string& to) {
  return static_cast<std::size_t>(std::count_if(ps.history.begin(), ps.history.end(),
                                                [&](const client::PathEvent& e) { return e.to == to; }));
}

// A pair behind two NATs of the given types, started.
struct Pair {
  explicit Pair(NatType ta, NatType tb, std::uint64_t seed = 1) : w(seed) {
    nat_a = &w.addNat(ta, 1);
    nat_b = &w.addNat(tb, 2);
    alice = &w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
    bob = &w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  }
  client::PeerStatus bobAtAlice() { return w.peerStatus(*alice, "bob"); }
  client::PeerStatus aliceAtBob() { return w.peerStatus(*bob, "alice"); }
  bool paths(const std::string& at_alice, const std::string& at_bob) {
    return bobAtAlice().path == at_alice && aliceAtBob().path == at_bob;
  }

  PunchWorld w;
  SimulatedNat* nat_a = nullptr;
  SimulatedNat* nat_b = nullptr;
  PunchPeer* alice = nullptr;
  PunchPeer* bob = nullptr;
};

// (rule 2) Symmetric NATs on both sides: relayed once relay_after has passed, one channel for the
// pair, data both ways.
TEST(PathSim, SymmetricPairIsRelayedWithinRelayAfter) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  Instant t0 = p.w.clock.now();
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  Duration took = p.w.clock.now() - t0;
  EXPECT_GE(took, seconds(2));  // UDP was tried first, for relay_after
  EXPECT_LE(took, milliseconds(2500));
  EXPECT_TRUE(p.w.dataFlows(*p.alice, *p.bob));
  auto ab = p.bobAtAlice();
  auto ba = p.aliceAtBob();
  EXPECT_EQ(ab.path, "relay-udp");
  EXPECT_EQ(ba.path, "relay-udp");
  EXPECT_EQ(ab.relay_state, "bound");
  EXPECT_EQ(ab.relay_channel, ba.relay_channel);
  EXPECT_EQ(ab.relay, p.w.rv->endpoint());
  ASSERT_FALSE(ab.history.empty());
  EXPECT_EQ(ab.history.back().from, "none");
  EXPECT_EQ(ab.history.back().to, "relay-udp");
  EXPECT_NE(ab.path_reason.find("relayed through 203.0.113.1:7000"), std::string::npos)
      << ab.path_reason;
  auto st = p.alice->node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_EQ(st.rendezvous[0].relay_channels, 1u);
  EXPECT_EQ(st.rendezvous[0].transport, "udp");
  auto rs = p.w.rv->engine().status(p.w.clock.now());
  EXPECT_EQ(rs.counters.relay_binds, 1u);
  EXPECT_GT(rs.counters.relayed_packets, 0u);
}

// Packets sent while no session exists wait (bounded) and go out once the relayed session is up.
TEST(PathSim, PacketsWaitingForTheRelayedSessionGoOutOnceItIsUp) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  // bob goes away long enough for alice to declare him dead; alice keeps his routes.
  auto bob_options = p.bob->options;
  p.bob->node->stopEngine();
  p.w.net.runFor(seconds(60));
  ASSERT_NE(p.bobAtAlice().state, "established");
  std::vector<std::vector<std::uint8_t>> sent;
  for (std::uint64_t i = 0; i < 3; ++i) {
    sent.push_back(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(100 + i)));
    p.alice->node->sendTun(sent.back());
  }
  p.w.start(*p.bob);
  ASSERT_TRUE(p.w.net.runUntil([&] { return p.bob->node->tun.size() >= 3; }, seconds(15)))
      << p.w.describe();
  EXPECT_EQ(p.bob->node->tun, sent);
  EXPECT_EQ(p.bobAtAlice().path, "relay-udp");
}

// (rule 3) A direct pair keeps a standby relay channel bound.
TEST(PathSim, DirectPairKeepsAStandbyRelayChannel) {
  Pair p(NatType::kFullCone, NatType::kPortRestrictedCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.w.net.runUntil(
      [&] {
        return p.bobAtAlice().relay_state == "bound" && p.aliceAtBob().relay_state == "bound";
      },
      seconds(3)))
      << p.w.describe();
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp"));
  EXPECT_EQ(p.bobAtAlice().relay_channel, p.aliceAtBob().relay_channel);
  EXPECT_FALSE(p.bobAtAlice().direct_retry_at.has_value());
  // Refreshing keeps the same channel.
  auto channel = p.bobAtAlice().relay_channel;
  p.w.net.runFor(seconds(60));
  EXPECT_EQ(p.bobAtAlice().relay_channel, channel);
  EXPECT_EQ(p.w.rv->engine().status(p.w.clock.now()).counters.relay_binds, 1u);
}

// (rule 4) A relayed pair whose NATs loosen moves to direct UDP by itself: same session, no
// packet lost across the move.
TEST(PathSim, RelayedPairUpgradesToDirectWithoutANewHandshakeOrLoss) {
  Pair p(NatType::kSymmetric, NatType::kSymmetric);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(4))) << p.w.describe();
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(15));  // the first punch (10 s) is over: only background retries remain
  ASSERT_TRUE(p.paths("relay-udp", "relay-udp"));
  auto before = p.bobAtAlice();
  ASSERT_TRUE(before.direct_retry_at.has_value());
  Instant loosened = p.w.clock.now();
  p.nat_a->setType(NatType::kFullCone);
  p.nat_b->setType(NatType::kFullCone);
  // Background direct retries: the first after direct_retry (5 s), then doubling. Punching runs
  // 10 s after the first failed one, so the retry lands within about 20 s.
  for (int i = 0; i < 80 && !p.paths("direct-udp", "direct-udp"); ++i) {
    ping.run(milliseconds(500));
  }
  ASSERT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  Duration took = p.w.clock.now() - loosened;
  EXPECT_LE(took, seconds(40));
  ping.run(seconds(3));
  auto after = p.bobAtAlice();
  EXPECT_EQ(after.local_index, before.local_index);  // the same session: no new handshake
  EXPECT_EQ(after.handshakes, 1u);
  EXPECT_EQ(p.aliceAtBob().handshakes, 1u);
  EXPECT_EQ(ping.lostAb(loosened, p.w.clock.now() - seconds(1)), 0u) << p.w.describe();
  EXPECT_EQ(ping.lostBa(loosened, p.w.clock.now() - seconds(1)), 0u) << p.w.describe();
  EXPECT_GE(countEvents(after, "direct-udp"), 1u);
  EXPECT_NE(after.path_reason.find("direct UDP"), std::string::npos) << after.path_reason;
  EXPECT_FALSE(after.direct_retry_at.has_value());
  dump(p.w);
}

// (rule 5) A direct path that starts dropping everything is demoted to the relay within
// demote_after; traffic goes on (a copy rides the relay once the direct path is silent for 1 s).
// batches: both nodes seal in batches on two threads, as the daemon does with workers = 2 (the
// engine must count a packet it hands over as sent on the path, or silence goes unnoticed).
void silentDirectPathIsDemoted(bool batches) {
  Pair p(NatType::kFullCone, NatType::kFullCone);
  if (batches) {
    p.alice->node->sealInBatches(2);
    p.bob->node->sealInBatches(2);
  }
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.w.net.runUntil([&] { return p.bobAtAlice().relay_state == "bound"; }, seconds(3)));
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(2));
  ASSERT_TRUE(p.paths("direct-udp", "direct-udp"));
  auto ea = *p.aliceAtBob().endpoint;  // alice's public endpoint, as bob sends to it
  auto eb = *p.bobAtAlice().endpoint;
  Instant broken = p.w.clock.now();
  p.w.net.cut(ea, eb, true);
  for (int i = 0; i < 100 && !p.paths("relay-udp", "relay-udp"); ++i) {
    ping.run(milliseconds(100));
  }
  ASSERT_TRUE(p.paths("relay-udp", "relay-udp")) << p.w.describe();
  EXPECT_LE(p.w.clock.now() - broken, seconds(4) + milliseconds(500));
  ping.run(seconds(5));
  // Lost only while the direct path was silent for less than a second.
  EXPECT_LE(ping.gapAb(broken), milliseconds(1300));
  EXPECT_LE(ping.gapBa(broken), milliseconds(1300));
  EXPECT_EQ(ping.lostAb(broken + milliseconds(1300), p.w.clock.now() - seconds(1)), 0u);
  EXPECT_EQ(ping.duplicates(), 0u);  // dual-sent copies open once
  auto ab = p.bobAtAlice();
  EXPECT_EQ(ab.handshakes, 1u);
  ASSERT_FALSE(ab.history.empty());
  EXPECT_EQ(ab.history.back().to, "relay-udp");
  EXPECT_NE(ab.history.back().reason.find("demoted: no authenticated packet"), std::string::npos)
      << ab.history.back().reason;
  EXPECT_TRUE(ab.direct_retry_at.has_value());
  // The link comes back: a background retry finds it and the pair goes direct again.
  p.w.net.cut(ea, eb, false);
  for (int i = 0; i < 120 && !p.paths("direct-udp", "direct-udp"); ++i) {
    ping.run(milliseconds(500));
  }
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_EQ(p.bobAtAlice().handshakes, 1u);
  dump(p.w);
  if (batches) {
    EXPECT_GT(p.alice->node->sealBatch()->sealed(), 0u);
  }
}

TEST(PathSim, SilentDirectPathIsDemotedAndTrafficContinues) { silentDirectPathIsDemoted(false); }

TEST(PathSim, SilentDirectPathIsDemotedWhenSealingInBatches) { silentDirectPathIsDemoted(true); }

// (rule 6) Hold-down: a direct path that works for a while and then drops everything, over and
// over, is not flapped to at every chance: each demotion holds it down longer.
TEST(PathSim, AlternatingDirectPathDoesNotFlap) {
  Pair p(NatType::kFullCone, NatType::kFullCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.w.net.runUntil([&] { return p.bobAtAlice().relay_state == "bound"; }, seconds(3)));
  auto ea = *p.aliceAtBob().endpoint;
  auto eb = *p.bobAtAlice().endpoint;
  PingStream ping(p.w, *p.alice, *p.bob);
  std::string last = p.bobAtAlice().path;
  int changes = 0;
  std::vector<Duration> holds;
  // 6 s down, 6 s up, for 4 minutes.
  for (int cycle = 0; cycle < 20; ++cycle) {
    for (int half = 0; half < 2; ++half) {
      p.w.net.cut(ea, eb, half == 0);
      for (int i = 0; i < 30; ++i) {
        ping.run(milliseconds(200), milliseconds(100));
        auto now_path = p.bobAtAlice().path;
        if (now_path != last) {
          ++changes;
          last = now_path;
        }
      }
    }
  }
  // Without hold-down: a demotion and an upgrade every cycle (40 changes). With it (5 s doubling to
  // 2 min) and the retry backoff, far fewer.
  EXPECT_LE(changes, 14) << p.w.describe();
  EXPECT_GE(changes, 1);
  auto ab = p.bobAtAlice();
  std::size_t held_longer = 0;
  for (const auto& e : ab.history) {
    if (e.reason.find("held down for 20.0 s") != std::string::npos ||
        e.reason.find("held down for 40.0 s") != std::string::npos ||
        e.reason.find("held down for 80.0 s") != std::string::npos ||
        e.reason.find("held down for 120.0 s") != std::string::npos) {
      ++held_longer;
    }
  }
  EXPECT_GE(held_longer, 1u) << p.w.describe();
  EXPECT_TRUE(p.w.established(*p.alice, *p.bob));
  EXPECT_EQ(ab.handshakes, 1u);
  dump(p.w);
}

// (rule 6) One direction of the direct path fails (alice -> bob). bob hears nothing directly and
// demotes; alice still hears bob directly, so her direct path stays, but since bob's newest
// packets come over the relay she sends on both: bob gets her packets right after his demotion.
TEST(PathSim, OneWayFailureDualSendsWhileTheNewestPacketCameOverTheRelay) {
  Pair p(NatType::kFullCone, NatType::kFullCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.w.net.runUntil(
      [&] {
        return p.bobAtAlice().relay_state == "bound" && p.aliceAtBob().relay_state == "bound";
      },
      seconds(3)));
  auto ea = *p.aliceAtBob().endpoint;
  auto eb = *p.bobAtAlice().endpoint;
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(1));
  Instant broken = p.w.clock.now();
  p.w.net.cutOneWay(ea, eb, true);
  bool saw_mixed = false;
  Instant bob_demoted = kNever;
  for (int i = 0; i < 100; ++i) {
    ping.run(milliseconds(50));
    if (bob_demoted == kNever && p.aliceAtBob().path == "relay-udp") {
      bob_demoted = p.w.clock.now();
      saw_mixed = p.bobAtAlice().path == "direct-udp";
    }
  }
  ASSERT_NE(bob_demoted, kNever) << p.w.describe();
  EXPECT_LE(bob_demoted - broken, seconds(4) + milliseconds(300));
  EXPECT_TRUE(saw_mixed) << "alice should still be direct when bob demotes";
  // From bob's demotion on, alice's packets reach him (over the relay copy) without a gap.
  EXPECT_LE(ping.gapAb(bob_demoted), milliseconds(400)) << p.w.describe();
  EXPECT_EQ(ping.lostBa(broken, p.w.clock.now() - seconds(1)), 0u);  // bob -> alice always worked
  EXPECT_TRUE(p.w.established(*p.alice, *p.bob));
  dump(p.w);
}

// Moves alice's host to NAT site 3 (a new address and a new mapping) and tells her engine.
void moveAlice(Pair& p, NatType site3) {
  p.w.addNat(site3, 3);
  auto ep = parseEp("10.0.3.2:51820");
  p.alice->node->moveTo(ep);
  Instant now = p.w.clock.now();
  p.alice->node->engine().setLocalCandidates(now, {ep});
  p.alice->node->engine().onNetworkChange(now);
}

// (rule 7) Roaming: alice's host moves to another NAT site during a ping every 50 ms. Traffic
// resumes within a few hundred ms (relay first), then goes direct again; one session throughout.
TEST(PathSim, RoamingToAnotherSiteResumesQuicklyThenGoesDirect) {
  for (NatType bob_nat : {NatType::kFullCone, NatType::kPortRestrictedCone}) {
    Pair p(NatType::kPortRestrictedCone, bob_nat);
    p.w.startAll();
    ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
    ASSERT_TRUE(
        p.w.net.runUntil([&] { return p.bobAtAlice().relay_state == "bound"; }, seconds(3)));
    PingStream ping(p.w, *p.alice, *p.bob);
    ping.run(seconds(2));
    ASSERT_TRUE(p.paths("direct-udp", "direct-udp"));
    auto session = p.bobAtAlice().local_index;
    Instant moved = p.w.clock.now();
    moveAlice(p, NatType::kPortRestrictedCone);
    ping.run(seconds(3));
    std::printf("handover gap (bob behind %s): alice->bob %.0f ms, bob->alice %.0f ms\n",
                toString(bob_nat), toSeconds(ping.gapAb(moved)) * 1000,
                toSeconds(ping.gapBa(moved)) * 1000);
    EXPECT_LE(ping.gapAb(moved), milliseconds(500)) << toString(bob_nat) << "\n" << p.w.describe();
    EXPECT_LE(ping.gapBa(moved), milliseconds(500)) << toString(bob_nat) << "\n" << p.w.describe();
    for (int i = 0; i < 60 && !p.paths("direct-udp", "direct-udp"); ++i) {
      ping.run(milliseconds(500));
    }
    EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << toString(bob_nat) << "\n" << p.w.describe();
    EXPECT_EQ(p.aliceAtBob().endpoint->address().toString(), "198.51.100.3");
    EXPECT_EQ(p.bobAtAlice().local_index, session);
    EXPECT_EQ(p.bobAtAlice().handshakes, 1u);
    EXPECT_EQ(p.aliceAtBob().handshakes, 1u);
    ping.run(seconds(2));
    EXPECT_EQ(ping.lostAb(p.w.clock.now() - seconds(3), p.w.clock.now() - seconds(1)), 0u);
    dump(p.w);
  }
}

// (rule 7) A NAT rebinding with no local event (the NAT forgot its mappings): the liveness probes
// on the silent direct path find it; traffic resumes over the relay within about a second and the
// pair goes direct again.
TEST(PathSim, NatRebindingIsFoundByLivenessProbes) {
  Pair p(NatType::kPortRestrictedCone, NatType::kPortRestrictedCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  ASSERT_TRUE(p.w.net.runUntil(
      [&] {
        return p.bobAtAlice().relay_state == "bound" && p.aliceAtBob().relay_state == "bound";
      },
      seconds(3)));
  PingStream ping(p.w, *p.alice, *p.bob);
  ping.run(seconds(2));
  auto old_alice = *p.aliceAtBob().endpoint;
  Instant flushed = p.w.clock.now();
  p.nat_a->clear();
  ping.run(seconds(5));
  EXPECT_LE(ping.gapAb(flushed), milliseconds(1600)) << p.w.describe();
  EXPECT_LE(ping.gapBa(flushed), milliseconds(1600)) << p.w.describe();
  for (int i = 0; i < 80 && !p.paths("direct-udp", "direct-udp"); ++i) {
    ping.run(milliseconds(500));
  }
  EXPECT_TRUE(p.paths("direct-udp", "direct-udp")) << p.w.describe();
  EXPECT_NE(*p.aliceAtBob().endpoint, old_alice);
  EXPECT_EQ(p.bobAtAlice().handshakes, 1u);
  dump(p.w);
}

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

TEST(Path, KindsRankAndWords) {
  auto ep = parseEp("198.51.100.2:51820");
  client::Path du = client::Path::udp(ep);
  client::Path dt = client::Path::tcp(ep);
  client::Path ru{client::Transport::kUdp, parseEp("203.0.113.1:7000"), 7};
  client::Path rt{client::Transport::kTcp, parseEp("203.0.113.1:443"), 7};
  EXPECT_EQ(client::toString(du.kind()), "direct-udp");
  EXPECT_EQ(client::toString(dt.kind()), "direct-tcp");
  EXPECT_EQ(client::toString(ru.kind()), "relay-udp");
  EXPECT_EQ(client::toString(rt.kind()), "relay-tcp");
  EXPECT_TRUE(du.betterThan(dt));
  EXPECT_TRUE(dt.betterThan(ru));
  EXPECT_TRUE(ru.betterThan(rt));
  EXPECT_FALSE(rt.betterThan(du));
  EXPECT_FALSE(du.betterThan(du));
  EXPECT_TRUE(ru.relayed());
  EXPECT_TRUE(du.direct());
  EXPECT_FALSE(du == dt);
  EXPECT_EQ(du.toString(), "direct-udp 198.51.100.2:51820");
  EXPECT_EQ(rt.toString(), "relay-tcp 203.0.113.1:443 channel 7");
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
