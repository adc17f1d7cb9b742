// Two (or three) engines on an in-process network and a virtual clock: handshake over a lossy
// link, data both ways, convergence, key updates without loss, hostile datagrams, identity
// checks, restarts, dead peers and keepalives. No sleeps; every loop is bounded.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "client/engine/engine.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/packet_type.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/fakes/sim_network.hpp"
#include "tests/fakes/test_pki.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

// (1)
TEST(EngineSim, HandshakeCompletesOverLossyReorderingLink) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    TwoPeers t(seed, lossyLink());
    Instant t0 = t.clock.now();
    t.start();
    ASSERT_TRUE(t.waitEstablished(seconds(60))) << "seed " << seed;
    EXPECT_LT(t.clock.now() - t0, seconds(30)) << "seed " << seed;
    auto ab = t.bobAtAlice();
    auto ba = t.aliceAtBob();
    EXPECT_FALSE(ab.cipher.empty());
    EXPECT_EQ(ab.cipher, ba.cipher);
    EXPECT_EQ(ab.local_index, ba.remote_index);
    EXPECT_EQ(ab.remote_index, ba.local_index);
    EXPECT_EQ(ab.path, "direct-udp");
    EXPECT_EQ(ab.addresses.size(), 2u);
    // Let stragglers settle: the pair stays on this one session.
    t.net.runFor(seconds(15));
    EXPECT_EQ(t.bobAtAlice().local_index, ab.local_index) << "seed " << seed;
    EXPECT_EQ(t.aliceAtBob().local_index, ba.local_index) << "seed " << seed;
    EXPECT_EQ(t.bobAtAlice().state, "established");
  }
}

// (2)
TEST(EngineSim, Ipv4AndIpv6FlowBothWaysByteExact) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  std::vector<std::vector<std::uint8_t>> to_b, to_a;
  for (std::uint64_t i = 0; i < 10; ++i) {
    to_b.push_back(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(i, i * 100)));
    to_b.push_back(makeIpv6("fd42::1", "fd42::2", numberedPayload(i, 1200)));
    to_a.push_back(makeIpv4("10.42.0.2", "10.42.0.1", numberedPayload(i, 7)));
    to_a.push_back(makeIpv6("fd42::2", "fd42::1", numberedPayload(i, i)));
  }
  for (std::size_t i = 0; i < to_b.size(); ++i) {
    t.a.sendTun(to_b[i]);
    t.b.sendTun(to_a[i]);
  }
  t.net.runFor(seconds(1));
  EXPECT_EQ(t.b.tun, to_b);
  EXPECT_EQ(t.a.tun, to_a);
  auto st = t.a.status();
  EXPECT_EQ(st.peer("bob")->tx_packets, 20u);
  EXPECT_EQ(st.peer("bob")->rx_packets, 20u);
  EXPECT_EQ(totalDrops(st), 0u);
  EXPECT_EQ(totalDrops(t.b.status()), 0u);
  // No route for an address nobody certified.
  t.a.sendTun(makeIpv4("10.42.0.1", "10.42.0.77", numberedPayload(1)));
  EXPECT_EQ(t.a.status().drop("no_route"), 1u);
}

// (3)
TEST(EngineSim, SimultaneousInitiationConvergesOnOneSession) {
  struct Case {
    Duration delay;
    Duration b_starts_after;
  };
  for (Case c : {Case{milliseconds(10), Duration::zero()}, Case{milliseconds(50), milliseconds(20)},
                 Case{milliseconds(30), milliseconds(200)}, Case{Duration::zero(), Duration::zero()}}) {
    LinkConfig l;
    l.delay = c.delay;
    TwoPeers t(3, l);
    t.a.startEngine(*t.ctx_a, t.opts_a);
    t.net.runFor(c.b_starts_after);
    t.b.startEngine(*t.ctx_b, t.opts_b);
    ASSERT_TRUE(t.waitEstablished());
    t.net.runFor(seconds(20));
    auto ab = t.bobAtAlice();
    auto ba = t.aliceAtBob();
    EXPECT_EQ(ab.handshakes, 1u);
    EXPECT_EQ(ba.handshakes, 1u);
    EXPECT_EQ(ab.local_index, ba.remote_index);
    EXPECT_EQ(ab.remote_index, ba.local_index);
    EXPECT_EQ(t.a.status().drop("handshake_failed"), 0u);
    EXPECT_EQ(t.b.status().drop("handshake_failed"), 0u);
    t.expectDataFlows();
  }
}

// (4)
TEST(EngineSim, KeyUpdatesLoseNothingUnderReordering) {
  LinkConfig l;
  l.delay = milliseconds(10);
  l.jitter = milliseconds(5);
  l.reorder = 0.3;
  l.reorder_extra = milliseconds(25);
  TwoPeers t(4, l);
  t.opts_a.rekey_interval = seconds(2);
  t.opts_b.rekey_interval = seconds(3);
  t.opts_a.rekey_after_packets = 300;
  t.opts_b.rekey_after_packets = 170;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  constexpr std::uint64_t kPackets = 4000;
  for (std::uint64_t i = 0; i < kPackets; ++i) {
    t.a.sendTun(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(i)));
    if (i % 2 == 0) {
      t.b.sendTun(makeIpv4("10.42.0.2", "10.42.0.1", numberedPayload(i)));
    }
    t.net.runFor(milliseconds(5));
  }
  t.net.runFor(seconds(1));
  auto check = [](const std::vector<std::vector<std::uint8_t>>& got, std::uint64_t n,
                  std::uint64_t step) {
    std::map<std::uint64_t, int> seen;
    for (const auto& p : got) {
      seen[sequenceOfIpv4(p)]++;
    }
    std::uint64_t missing = 0, dup = 0;
    for (std::uint64_t i = 0; i < n; i += step) {
      missing += seen.count(i) == 0 ? 1u : 0u;
      dup += seen[i] > 1 ? 1u : 0u;
    }
    EXPECT_EQ(missing, 0u);
    EXPECT_EQ(dup, 0u);
    EXPECT_EQ(got.size(), (n + step - 1) / step);
  };
  check(t.b.tun, kPackets, 1);
  check(t.a.tun, kPackets, 2);
  auto ab = t.bobAtAlice();
  auto ba = t.aliceAtBob();
  EXPECT_GE(ab.key_updates, 5u);
  EXPECT_GE(ba.key_updates, 5u);
  EXPECT_EQ(ab.handshakes, 1u);  // key updates, not new handshakes
  EXPECT_EQ(t.a.status().drop("auth_failed"), 0u);
  EXPECT_EQ(t.b.status().drop("auth_failed"), 0u);
}

// (5)
TEST(EngineSim, ReplayedDatagramIsDroppedAndCounted) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  Tap tap(t.net, t.ep_a);
  t.expectDataFlows(1);
  ASSERT_EQ(tap.data.size(), 1u);
  auto copy = tap.data[0];
  t.b.tun.clear();
  t.net.inject(copy.from, copy.to, copy.bytes);
  t.net.inject(ep("203.0.113.9:4444"), copy.to, copy.bytes);  // from elsewhere too
  t.net.runFor(milliseconds(100));
  EXPECT_TRUE(t.b.tun.empty());
  EXPECT_EQ(t.b.status().drop("replay"), 2u);
  EXPECT_EQ(t.aliceAtBob().endpoint, t.ep_a);  // a replay never moves the session
  t.expectDataFlows(2);
}

// (6)
TEST(EngineSim, ForgedTruncatedAndGarbageDatagramsAreCountedAndHarmless) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  Tap tap(t.net, t.ep_a);
  t.expectDataFlows(1);
  ASSERT_EQ(tap.data.size(), 1u);
  const auto good = tap.data[0].bytes;
  t.net.on_send = nullptr;
  std::uint64_t injected = 0;
  auto before = totalDrops(t.b.status());
  t.b.tun.clear();
  // Every single-bit flip of a valid datagram.
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto f = good;
      f[i] = static_cast<std::uint8_t>(f[i] ^ (1u << bit));
      t.net.inject(t.ep_a, t.ep_b, f);
      ++injected;
    }
  }
  // Every truncation.
  for (std::size_t n = 0; n < good.size(); ++n) {
    t.net.inject(t.ep_a, t.ep_b, std::vector<std::uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
    ++injected;
  }
  // Random garbage, some of it dressed up with a plausible type byte.
  std::mt19937_64 rng(6);
  const std::uint8_t types[] = {0x41, 0x50, 0x51, 0x52, 0x53, 0x00, 0x01, 0x60, 0x70, 0x78, 0xFF};
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::uint8_t> g(rng() % 1500);
    for (auto& x : g) {
      x = static_cast<std::uint8_t>(rng());
    }
    if (!g.empty() && i % 2 == 0) {
      g[0] = types[rng() % std::size(types)];
      if (g[0] == 0x41 && g.size() > 1) {
        g[1] = 1;  // valid version, so the parser gets further
      }
    }
    t.net.inject(ep("203.0.113.5:999"), t.ep_b, std::move(g));
    ++injected;
  }
  t.net.runFor(milliseconds(100));
  auto st = t.b.status();
  EXPECT_TRUE(t.b.tun.empty());
  EXPECT_EQ(totalDrops(st) - before, injected);
  EXPECT_GT(st.drop("auth_failed"), 0u);
  EXPECT_GT(st.drop("malformed"), 0u);
  EXPECT_GT(st.drop("unknown_index"), 0u);
  EXPECT_GT(st.drop("unknown_type"), 0u);
  EXPECT_EQ(t.aliceAtBob().state, "established");
  EXPECT_EQ(t.aliceAtBob().endpoint, t.ep_a);
  t.expectDataFlows(3);
}

TEST(EngineSim, StunIsCountedAsUnsupported) {
  TwoPeers t;
  t.start();
  std::vector<std::uint8_t> stun(20, 0);
  stun[1] = 1;
  stun[4] = 0x21;
  stun[5] = 0x12;
  stun[6] = 0xA4;
  stun[7] = 0x42;
  t.net.inject(ep("203.0.113.5:3478"), t.ep_b, stun);
  t.net.runFor(milliseconds(10));
  EXPECT_EQ(t.b.status().drop("stun_unsupported"), 1u);
}

// Fake ClientHellos naming a configured peer, from many sources, must not disturb the session:
// each is answered with a 24-byte cookie and leaves no state (issue: hold under attack, 2 and 3).
TEST(EngineSim, HandshakeFloodGetsCookiesAndTheSessionSurvives) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  auto before = t.aliceAtBob();
  auto cookies_before = t.b.status().cookie_replies;  // alice's first ClientHello got one too
  std::mt19937_64 rng(9);
  for (int i = 0; i < 400; ++i) {
    protocol::HandshakePacket p;
    p.flags = protocol::kFlagPayload | protocol::kFlagHello | protocol::kFlagPadded;
    p.wire_size = protocol::kMinInitialPacket;
    p.sender_index = static_cast<std::uint32_t>(rng() | 1);
    p.packet_id = 1;
    p.name = "alice";
    std::vector<std::uint8_t> junk(200);
    for (auto& x : junk) {
      x = static_cast<std::uint8_t>(rng());
    }
    p.payload = junk;
    std::vector<std::uint8_t> buf(protocol::kMaxHandshakePacket);
    buf.resize(protocol::serializeHandshake(p, {}, buf));
    std::string src = "203.0.113." + std::to_string(i % 4) + ":5000";
    t.net.inject(ep(src.c_str()), t.ep_b, buf);
  }
  t.net.runFor(seconds(1));
  auto st = t.b.status();
  EXPECT_EQ(st.cookie_replies - cookies_before, 400u);
  EXPECT_EQ(st.handshake_attempts, 0u);
  EXPECT_EQ(st.drop("handshake_failed"), 0u);
  auto after = t.aliceAtBob();
  EXPECT_EQ(after.state, "established");
  EXPECT_EQ(after.local_index, before.local_index);
  t.expectDataFlows();
}

// (7)
TEST(EngineSim, SpoofedInnerSourceIsDropped) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.a.sendTun(makeIpv4("10.42.0.99", "10.42.0.2", numberedPayload(1)));
  t.a.sendTun(makeIpv6("fd42::2", "fd42::2", numberedPayload(2)));   // bob's own address
  t.a.sendTun(makeIpv4("10.42.0.2", "10.42.0.2", numberedPayload(3)));
  t.net.runFor(milliseconds(200));
  EXPECT_TRUE(t.b.tun.empty());
  EXPECT_EQ(t.b.status().drop("bad_inner_source"), 3u);
  t.expectDataFlows();
}

// (8)
TEST(EngineSim, PeerFromAnotherCaIsRejected) {
  TwoPeers t;
  TestPki other("other-ca");
  t.ctx_b = other.makeContext("bob", {"10.42.0.2/24"});
  t.start();
  t.net.runFor(seconds(30));
  auto ab = t.bobAtAlice();
  auto ba = t.aliceAtBob();
  EXPECT_NE(ab.state, "established");
  EXPECT_NE(ba.state, "established");
  EXPECT_NE(ab.last_error.find("handshake failed"), std::string::npos) << ab.last_error;
  EXPECT_NE(ba.last_error.find("handshake failed"), std::string::npos) << ba.last_error;
  EXPECT_GT(t.a.status().drop("handshake_failed"), 0u);
  EXPECT_TRUE(ab.addresses.empty());
  std::cout << "alice sees: " << ab.last_error << "\nbob sees: " << ba.last_error << "\n";
}

TEST(EngineSim, PeerNotInConfigIsRejected) {
  TwoPeers t;
  auto ctx_c = t.pki.makeContext("carol", {"10.42.0.3/24"});
  auto ep_c = ep("192.0.2.3:51820");
  SimNode& c = t.net.addNode(ep_c);
  EngineOptions oc;
  oc.own_name = "carol";
  oc.peers = {{"alice", t.ep_a}, {"bob", t.ep_b}};
  t.start();
  c.startEngine(*ctx_c, oc);
  t.net.runFor(seconds(20));
  EXPECT_TRUE(t.bothEstablished());
  EXPECT_GT(t.a.status().drop("unknown_peer"), 0u);
  EXPECT_GT(t.b.status().drop("unknown_peer"), 0u);
  auto cs = c.status();
  EXPECT_EQ(cs.peer("alice")->state, "connecting");
  EXPECT_EQ(cs.peer("bob")->state, "connecting");
  EXPECT_NE(cs.peer("bob")->last_error.find("timed out"), std::string::npos);
}

// (9)
TEST(EngineSim, RestartedPeerComesBackByItself) {
  for (int which = 0; which < 2; ++which) {
    TwoPeers t(9, lossyLink());
    t.start();
    ASSERT_TRUE(t.waitEstablished(seconds(60)));
    auto old = t.bobAtAlice();
    SimNode& restarted = which == 0 ? t.b : t.a;
    if (which == 0) {
      t.b.startEngine(*t.ctx_b, t.opts_b);
    } else {
      t.a.startEngine(*t.ctx_a, t.opts_a);
    }
    ASSERT_TRUE(t.net.runUntil(
        [&] {
          auto ab = t.bobAtAlice();
          auto ba = t.aliceAtBob();
          return ab.state == "established" && ba.state == "established" &&
                 ab.local_index == ba.remote_index && ab.remote_index == ba.local_index;
        },
        seconds(60)))
        << "restarted " << (which == 0 ? "bob" : "alice");
    EXPECT_NE(t.bobAtAlice().local_index == old.local_index &&
                  t.bobAtAlice().remote_index == old.remote_index,
              true);
    t.net.setLink(LinkConfig{});
    t.expectDataFlows();
    EXPECT_EQ(restarted.status().peers[0].handshakes, 1u);
  }
}

// (10)
TEST(EngineSim, DeadPeerIsDetectedAndSessionComesBack) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.net.cut(t.ep_a, t.ep_b, true);
  t.net.runFor(seconds(45));
  EXPECT_EQ(t.bobAtAlice().state, "connecting");
  EXPECT_EQ(t.aliceAtBob().state, "connecting");
  EXPECT_NE(t.bobAtAlice().last_error.find("unresponsive"), std::string::npos);
  // Keep it down a while: retries back off instead of spinning.
  std::uint64_t sent_before = t.net.sent();
  t.net.runFor(seconds(120));
  EXPECT_LT(t.net.sent() - sent_before, 400u);
  t.net.cut(t.ep_a, t.ep_b, false);
  ASSERT_TRUE(t.waitEstablished(seconds(60)));
  t.expectDataFlows();
  EXPECT_GE(t.bobAtAlice().handshakes, 2u);
}

// Packets sent while a session is being re-made are queued, and data that overtakes the
// handshake's last flight is kept until our side finishes: nothing is lost.
TEST(EngineSim, PacketsQueuedDuringRehandshakeAreDelivered) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    LinkConfig l;
    l.delay = milliseconds(20);
    l.reorder = 0.5;
    l.reorder_extra = milliseconds(80);
    TwoPeers t(seed, l);
    t.start();
    ASSERT_TRUE(t.waitEstablished());
    t.net.cut(t.ep_a, t.ep_b, true);
    ASSERT_TRUE(t.net.runUntil([&] { return !t.bothEstablished(); }, seconds(60)));
    t.net.runFor(seconds(1));
    t.net.cut(t.ep_a, t.ep_b, false);
    ASSERT_TRUE(t.net.runUntil(
        [&] {
          return t.bobAtAlice().state == "connecting" && t.aliceAtBob().state == "connecting";
        },
        seconds(60)));
    std::vector<std::vector<std::uint8_t>> to_b, to_a;
    for (std::uint64_t i = 0; i < 5; ++i) {
      to_b.push_back(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(i)));
      to_a.push_back(makeIpv6("fd42::2", "fd42::1", numberedPayload(i)));
      t.a.sendTun(to_b.back());
      t.b.sendTun(to_a.back());
    }
    t.a.tun.clear();
    t.b.tun.clear();
    ASSERT_TRUE(t.waitEstablished(seconds(120))) << "seed " << seed;
    t.net.runFor(seconds(1));
    auto sorted = [](std::vector<std::vector<std::uint8_t>> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    EXPECT_EQ(sorted(t.b.tun), sorted(to_b)) << "seed " << seed;
    EXPECT_EQ(sorted(t.a.tun), sorted(to_a)) << "seed " << seed;
  }
}

// (11)
TEST(EngineSim, KeepalivesKeepIdleSessionAliveAndMeasureRtt) {
  LinkConfig l;
  l.delay = milliseconds(30);
  TwoPeers t(11, l);
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  auto first = t.bobAtAlice();
  t.net.runFor(seconds(300));
  auto ab = t.bobAtAlice();
  auto ba = t.aliceAtBob();
  EXPECT_EQ(ab.state, "established");
  EXPECT_EQ(ba.state, "established");
  EXPECT_EQ(ab.local_index, first.local_index);  // the same session all along
  ASSERT_TRUE(ab.rtt.has_value());
  ASSERT_TRUE(ba.rtt.has_value());
  EXPECT_GE(*ab.rtt, milliseconds(59));
  EXPECT_LE(*ab.rtt, milliseconds(61));
  EXPECT_EQ(ab.tx_packets, 0u);  // keepalives are not tunnel traffic
  EXPECT_EQ(totalDrops(t.a.status()), 0u);
  // Bounded chatter: about one probe and one reply per interval per side, not a storm.
  EXPECT_LT(t.net.sent(), 300u);
}

// Roaming: the peer's address changes (NAT rebinding); the session follows after authentication.
TEST(EngineSim, SessionFollowsRoamingPeer) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  // alice's NAT rebinds: her datagrams now come from a new endpoint, and what is sent there
  // reaches her.
  auto roamed = ep("192.0.2.200:40000");
  t.net.on_send = [&](const Datagram& d) {
    if (d.from == t.ep_a) {
      t.net.inject(roamed, d.to, d.bytes, milliseconds(10));
    } else if (d.to == roamed) {
      t.net.inject(d.from, t.ep_a, d.bytes, milliseconds(10));
    }
  };
  t.net.cutOneWay(t.ep_a, t.ep_b, true);  // her originals are lost; only the rebound copies arrive
  auto p = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(5));
  t.b.tun.clear();
  t.a.sendTun(p);
  t.net.runFor(milliseconds(100));
  ASSERT_EQ(t.b.tun.size(), 1u);
  // bob moved once a sealed reply to his liveness request came back from there.
  EXPECT_EQ(t.aliceAtBob().endpoint, roamed);
  t.net.on_send = nullptr;
}

// Finding 4 for authenticated packets: a copy of alice's packet with a rewritten source, arriving
// first, moved bob's session to wherever the rewriter chose. Now bob asks there first, gets no
// sealed reply, and stays where alice really is.
TEST(EngineSim, RewrittenSourceWithNobodyBehindItDoesNotMoveTheSession) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  auto elsewhere = ep("203.0.113.66:4444");
  std::size_t to_elsewhere = 0;
  t.net.on_send = [&](const Datagram& d) {
    if (d.from == t.ep_a && d.to == t.ep_b) {
      t.net.inject(elsewhere, d.to, d.bytes);  // ahead of the original
    }
    if (d.to == elsewhere) {
      to_elsewhere += d.bytes.size();
    }
  };
  for (std::uint64_t i = 0; i < 5; ++i) {
    t.a.sendTun(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(100 + i)));
    t.net.runFor(milliseconds(200));
  }
  t.net.on_send = nullptr;
  EXPECT_EQ(t.aliceAtBob().endpoint, t.ep_a);
  EXPECT_GT(to_elsewhere, 0u);      // the liveness requests, and nothing else
  EXPECT_LT(to_elsewhere, 5u * 100u);
  t.expectDataFlows(200);
}

}  // namespace
}  // namespace vpn::test
