// A session's life on a virtual clock (client/engine/engine_pki.cpp): fresh handshakes every
// rehandshake_interval lose no packet of a steady stream both ways; a certificate that expires
// ends its session and no new one starts; a reloaded blocklist closes a session and keeps it
// closed; a rendezvous whose certificate names another server than the one pinned is refused.
#include <gtest/gtest.h>

#include <map>

#include "tests/sim/punch_harness.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

// The wall clock the engines see: the real time at the start plus the virtual time since.
std::function<std::chrono::system_clock::time_point()> wallOf(FakeClock& clock) {
  auto wall0 = std::chrono::system_clock::now();
  Instant t0 = clock.now();
  return [&clock, wall0, t0] {
    return wall0 + std::chrono::duration_cast<std::chrono::system_clock::duration>(clock.now() - t0);
  };
}

// Numbered packets both ways every `gap` for `duration`; returns how many of each direction
// arrived exactly once (and counts duplicates).
struct StreamResult {
  std::size_t sent = 0, ab = 0, ba = 0, duplicates = 0;
};
StreamResult stream(TwoPeers& t, Duration duration, Duration gap) {
  StreamResult r;
  std::map<std::uint64_t, int> got_ab, got_ba;
  auto collect = [&](SimNode& n, std::map<std::uint64_t, int>& got) {
    for (const auto& p : n.tun) {
      got[sequenceOfIpv4(p)]++;
    }
    n.tun.clear();
  };
  Instant end = t.clock.now() + duration;
  std::uint64_t seq = 1;
  while (t.clock.now() < end) {
    t.a.sendTun(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(seq, 200)));
    t.b.sendTun(makeIpv4("10.42.0.2", "10.42.0.1", numberedPayload(seq, 200)));
    ++seq;
    t.net.runFor(gap);
    collect(t.b, got_ab);
    collect(t.a, got_ba);
  }
  t.net.runFor(seconds(1));
  collect(t.b, got_ab);
  collect(t.a, got_ba);
  r.sent = seq - 1;
  for (const auto& [tag, n] : got_ab) {
    r.ab += n >= 1 ? 1 : 0;
    r.duplicates += n > 1 ? static_cast<std::size_t>(n - 1) : 0;
  }
  for (const auto& [tag, n] : got_ba) {
    r.ba += n >= 1 ? 1 : 0;
    r.duplicates += n > 1 ? static_cast<std::size_t>(n - 1) : 0;
  }
  return r;
}

TEST(LifecycleSim, FreshHandshakesUnderASteadyStreamLoseNothing) {
  LinkConfig link;
  link.delay = milliseconds(20);  // packets sealed with the old keys are in flight at the switch
  TwoPeers t(1, link);
  t.opts_a.rehandshake_interval = seconds(20);
  t.opts_b.rehandshake_interval = seconds(20);
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  const auto first = t.bobAtAlice();
  auto r = stream(t, seconds(70), milliseconds(5));
  auto now = t.bobAtAlice();
  EXPECT_GE(now.handshakes, first.handshakes + 3);  // at 20, 40 and 60 s
  EXPECT_NE(now.local_index, first.local_index);
  EXPECT_EQ(now.state, "established");
  EXPECT_EQ(r.ab, r.sent);
  EXPECT_EQ(r.ba, r.sent);
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_EQ(t.a.status().drop("unknown_index") + t.b.status().drop("unknown_index"), 0u);
  EXPECT_EQ(now.path, "direct-udp");
  EXPECT_TRUE(now.last_error.empty()) << now.last_error;
}

TEST(LifecycleSim, WithoutFreshHandshakesTheSessionKeepsItsIndex) {
  TwoPeers t;
  t.opts_a.rehandshake_interval = Duration::zero();
  t.opts_b.rehandshake_interval = Duration::zero();
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  auto first = t.bobAtAlice();
  t.net.runFor(seconds(7200));
  EXPECT_EQ(t.bobAtAlice().local_index, first.local_index);
  EXPECT_EQ(t.bobAtAlice().handshakes, first.handshakes);
}

TEST(LifecycleSim, AnExpiringCertificateEndsItsSession) {
  TwoPeers t;
  t.opts_a.wall_clock = wallOf(t.clock);
  t.opts_b.wall_clock = wallOf(t.clock);
  t.ctx_b = t.pki.makeContextUntil("bob", {"10.42.0.2/24", "fd42::2/64"},
                                   std::chrono::system_clock::now() + std::chrono::minutes(2));
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.expectDataFlows();
  t.net.runFor(seconds(100));
  EXPECT_EQ(t.bobAtAlice().state, "established");  // before the expiry
  t.net.runFor(seconds(30));                        // past it
  auto ab = t.bobAtAlice();
  EXPECT_NE(ab.state, "established");
  // Attempts that follow fail on the expired certificate; none completes.
  t.net.runFor(seconds(60));
  ab = t.bobAtAlice();
  EXPECT_NE(ab.state, "established");
  EXPECT_NE(ab.last_error.find("expired"), std::string::npos) << ab.last_error;
}

TEST(LifecycleSim, ABlockedCertificateLosesItsSessionAndStaysOut) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.ctx_a->setBlocklist({t.pki.fingerprintOf("bob")});
  t.a.engine().closeBlocked(t.clock.now());
  EXPECT_NE(t.bobAtAlice().state, "established");
  t.net.runFor(seconds(60));
  auto ab = t.bobAtAlice();
  EXPECT_NE(ab.state, "established");
  EXPECT_NE(ab.last_error.find("on the blocklist"), std::string::npos) << ab.last_error;
  EXPECT_NE(t.aliceAtBob().state, "established");
  // Lifted again: they meet again.
  t.ctx_a->setBlocklist({});
  EXPECT_TRUE(t.waitEstablished(seconds(60)));
}

// A reload's peer list: carol is added while a stream runs to bob (bob's session and packets are
// untouched), then removed again (her session closes, her packets are dropped).
TEST(LifecycleSim, PeersAddedAndRemovedWhileOthersKeepTheirSessions) {
  TwoPeers t;
  const protocol::Endpoint ep_c = ep("203.0.113.30:51820");
  SimNode& c = t.net.addNode(ep_c);
  auto ctx_c = t.pki.makeContext("carol", {"10.42.0.3/24"});
  EngineOptions oc;
  oc.own_name = "carol";
  oc.peers = {{"alice", t.ep_a}};
  t.start();
  c.startEngine(*ctx_c, oc);
  ASSERT_TRUE(t.waitEstablished());
  const auto before = t.bobAtAlice();
  EXPECT_EQ(t.a.status().peer("carol"), nullptr);

  t.a.engine().setPeers(t.clock.now(), {{"bob", t.ep_b}, {"carol", ep_c}});
  auto r = stream(t, seconds(3), milliseconds(5));
  EXPECT_EQ(r.ab, r.sent);
  EXPECT_EQ(r.ba, r.sent);
  EXPECT_EQ(t.bobAtAlice().local_index, before.local_index);
  ASSERT_TRUE(t.net.runUntil(
      [&] {
        auto st = t.a.status();
        return st.peer("carol") != nullptr && st.peer("carol")->state == "established";
      },
      seconds(10)));

  t.a.engine().setPeers(t.clock.now(), {{"bob", t.ep_b}});
  EXPECT_EQ(t.a.status().peer("carol"), nullptr);
  EXPECT_EQ(t.bobAtAlice().local_index, before.local_index);
  auto dropped = t.a.status().drop("unknown_index") + t.a.status().drop("unknown_peer");
  t.a.tun.clear();
  c.sendTun(makeIpv4("10.42.0.3", "10.42.0.1", numberedPayload(1)));
  t.net.runFor(seconds(2));
  EXPECT_GT(t.a.status().drop("unknown_index") + t.a.status().drop("unknown_peer"), dropped);
  EXPECT_TRUE(t.a.tun.empty());  // nothing of carol's reaches alice's TUN
}

TEST(LifecycleSim, APinnedRendezvousNameRefusesAnotherServer) {
  PunchWorld w;
  auto& carol = w.addPeer("carol", "10.42.0.3", parseEp("192.0.2.3:51820"));
  carol.options.rendezvous = {{w.rv->endpoint(), std::nullopt, std::string("rv-other")}};
  w.start(carol);
  w.net.runFor(seconds(10));
  EXPECT_FALSE(w.registered(carol));
  auto st = carol.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_NE(st.rendezvous[0].last_error.find("expected 'rv-other'"), std::string::npos)
      << st.rendezvous[0].last_error;
  // Pinned to its real name, it registers.
  carol.options.rendezvous = {{w.rv->endpoint(), std::nullopt, std::string("rendezvous")}};
  w.start(carol);
  w.net.runFor(seconds(10));
  EXPECT_TRUE(w.registered(carol));
}

// A reload that pins the server it is registered with to another name drops that session: the
// running one proved only the old pin. Back to the right name, it registers again; an unchanged
// list keeps the session as it is.
TEST(LifecycleSim, AReloadedPinIsCheckedByANewHandshake) {
  PunchWorld w;
  auto& carol = w.addPeer("carol", "10.42.0.3", parseEp("192.0.2.3:51820"));
  carol.options.rendezvous = {{w.rv->endpoint(), std::nullopt}};
  w.start(carol);
  ASSERT_TRUE(w.net.runUntil([&] { return w.registered(carol); }, seconds(10)));
  const auto handshakes = w.rv->engine().status(w.clock.now()).counters.handshakes;

  carol.node->engine().setRendezvous(w.clock.now(), {{w.rv->endpoint(), std::nullopt}});
  w.net.runFor(seconds(2));
  EXPECT_EQ(w.rv->engine().status(w.clock.now()).counters.handshakes, handshakes);

  carol.node->engine().setRendezvous(w.clock.now(),
                                     {{w.rv->endpoint(), std::nullopt, std::string("rv-other")}});
  w.net.runFor(seconds(5));
  auto st = carol.node->status();
  ASSERT_EQ(st.rendezvous.size(), 1u);
  EXPECT_NE(st.rendezvous[0].state, "established");
  EXPECT_NE(st.rendezvous[0].last_error.find("expected 'rv-other'"), std::string::npos)
      << st.rendezvous[0].last_error;

  carol.node->engine().setRendezvous(w.clock.now(),
                                     {{w.rv->endpoint(), std::nullopt, std::string("rendezvous")}});
  ASSERT_TRUE(w.net.runUntil(
      [&] { return carol.node->status().rendezvous[0].state == "established"; }, seconds(10)));
  w.net.runFor(seconds(1));  // the server counts the session once the client's Finished arrives
  EXPECT_GT(w.rv->engine().status(w.clock.now()).counters.handshakes, handshakes);
}

}  // namespace
}  // namespace vpn::test
