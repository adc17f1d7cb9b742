// Paths on a virtual clock (docs/paths.md): peers behind simulated NATs and the real
// RendezvousEngine. Relay fallback and the first packets, the standby relay, upgrade to a direct
// path without a new handshake, demotion of a silent direct path, hold-down against flapping,
// dual-send while the peer's newest packet came over the relay, roaming to another NAT site.
// The rendezvous over TCP, NAT types, restarts and a second rendezvous are in
// path_fallback_sim_test.cpp. Every loop is bounded by virtual time.
#include <gtest/gtest.h>

#include "client/engine/path.hpp"
#include "tests/sim/path_harness.hpp"

namespace vpn::test {
namespace {

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

}  // namespace
}  // namespace vpn::test
