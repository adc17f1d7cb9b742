// Path MTU discovery (client/engine/pmtu_search.hpp, engine_pmtu.cpp) on a simulated network:
// the search on its own with a scripted path, then two engines behind a path MTU black hole
// (datagrams above a size vanish, no ICMP) finding the exact MTU, refusing what does not fit
// with ICMP on the TUN side, sending what may not be refused fragmentable, clamping SYNs, and
// leaving the MTU alone with a peer that does not answer probes.
#include <gtest/gtest.h>

#include <algorithm>

#include "client/engine/pmtu_search.hpp"
#include "protocol/checksum.hpp"
#include "protocol/data_packet.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

using client::PmtuSearch;

// Drives a search against a path that carries sizes up to `path` (acks after `rtt`), until it
// is done or `limit` passes. Returns the probes sent.
int drive(PmtuSearch& s, Instant& now, std::size_t path, Duration rtt, Duration limit) {
  int probes = 0;
  std::uint64_t token = 1;
  const Instant end = now + limit;
  bool first = true;  // a finished search starts again at its deadline (the raise timer)
  while (now < end && (first || s.state() == PmtuSearch::State::kSearching)) {
    first = false;
    if (auto p = s.poll(now, rtt, token++)) {
      ++probes;
      if (p->size <= path) {
        now += rtt;
        EXPECT_TRUE(s.onAck(now, p->token, p->size));
        continue;
      }
    } else if (s.state() != PmtuSearch::State::kSearching) {
      break;  // finished inside poll (the last size was lost)
    }
    now = std::max(now + milliseconds(1), std::min(s.nextDeadline(), end));
  }
  return probes;
}

TEST(PmtuSearch, AFittingPathIsConfirmedWithTwoProbes) {
  PmtuSearch s;
  Instant now{};
  s.reset(now, 1400, false);
  EXPECT_EQ(s.mtu(), 1400u);  // optimistic: nothing is refused while the first probes fly
  EXPECT_EQ(drive(s, now, 9000, milliseconds(20), seconds(10)), 2);  // base, then 1400
  EXPECT_EQ(s.state(), PmtuSearch::State::kDone);
  EXPECT_EQ(s.mtu(), 1400u);
  EXPECT_EQ(s.proven(), 1400u);
}

TEST(PmtuSearch, ABlackHoleIsFoundExactlyAndInTime) {
  for (std::size_t path : {1228u, 1152u, 1399u, 1300u}) {
    PmtuSearch s;
    Instant now{};
    s.reset(now, 1400, false);
    Instant start = now;
    int probes = drive(s, now, path, milliseconds(20), seconds(30));
    EXPECT_EQ(s.state(), PmtuSearch::State::kDone) << path << " after " << probes << " probes";
    EXPECT_EQ(s.mtu(), path);
    // Each lost size costs three probe timeouts (100 ms here), each proven one a round trip.
    EXPECT_LT(now - start, seconds(6)) << path << " after " << probes << " probes";
  }
}

TEST(PmtuSearch, APeerThatNeverAnswersLeavesTheMtuAlone) {
  PmtuSearch s;
  Instant now{};
  s.reset(now, 1400, false);
  drive(s, now, 0, milliseconds(20), seconds(10));
  EXPECT_EQ(s.state(), PmtuSearch::State::kUnsupported);
  EXPECT_EQ(s.mtu(), 1400u);
  EXPECT_GT(s.nextDeadline(), now + seconds(500));  // tried again much later, not in a loop
}

TEST(PmtuSearch, OffSendsNothing) {
  PmtuSearch s;
  s.reset(Instant{}, 1400, true);
  EXPECT_EQ(s.state(), PmtuSearch::State::kOff);
  EXPECT_FALSE(s.poll(Instant{} + seconds(1000), std::nullopt, 1));
  EXPECT_EQ(s.mtu(), 1400u);
}

TEST(PmtuSearch, LaterSearchesFollowThePathUpAndDown) {
  PmtuSearch s;
  Instant now{};
  s.reset(now, 1400, false);
  drive(s, now, 1228, milliseconds(20), seconds(30));
  ASSERT_EQ(s.mtu(), 1228u);
  now = s.nextDeadline();  // the raise timer: the path got better
  drive(s, now, 1350, milliseconds(20), seconds(30));
  EXPECT_EQ(s.mtu(), 1350u);
  now = s.nextDeadline();  // and then worse than what we use
  drive(s, now, 1200, milliseconds(20), seconds(30));
  EXPECT_EQ(s.state(), PmtuSearch::State::kDone);
  EXPECT_EQ(s.mtu(), 1200u);
}

TEST(PmtuSearch, StaleOrForeignAcksAreIgnored) {
  PmtuSearch s;
  Instant now{};
  s.reset(now, 1400, false);
  auto p = s.poll(now, std::nullopt, 42);
  ASSERT_TRUE(p);
  EXPECT_FALSE(s.onAck(now, 41, p->size));
  EXPECT_FALSE(s.onAck(now, 42, p->size + 1));
  EXPECT_TRUE(s.onAck(now, 42, p->size));
  EXPECT_FALSE(s.onAck(now, 42, p->size));  // answered already
}

// Alice and bob behind a path that carries UDP payloads up to 1252 bytes (a 1280-byte IPv4 MTU):
// 1228 inner bytes with the tunnel's 24.
class BlackHole : public ::testing::Test {
 protected:
  void SetUp() override {
    t.net.max_datagram = 1252;
    t.start();
    ASSERT_TRUE(t.waitEstablished());
    ASSERT_TRUE(t.net.runUntil(
        [&] {
          return t.bobAtAlice().pmtu_state == "done" && t.aliceAtBob().pmtu_state == "done";
        },
        seconds(30)));
    t.a.tun.clear();
    t.b.tun.clear();
  }
  // An inner IPv4 packet of `size` bytes, with DF or without.
  static std::vector<std::uint8_t> v4(std::size_t size, bool df) {
    auto p = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(1, size - 28 - 8));
    if (df) {
      p[6] |= 0x40;
      p[10] = p[11] = 0;
      protocol::putBe16(&p[10], static_cast<std::uint16_t>(~protocol::checksumFold(
                                    protocol::checksumAdd({p.data(), 20}))));
    }
    return p;
  }
  TwoPeers t;
};

TEST_F(BlackHole, BothEndsFindTheExactMtu) {
  EXPECT_EQ(t.bobAtAlice().mtu, 1228u);
  EXPECT_EQ(t.aliceAtBob().mtu, 1228u);
  EXPECT_EQ(t.bobAtAlice().pmtu_proven, 1228u);
  t.expectDataFlows();
}

TEST_F(BlackHole, TooBigWithDfIsRefusedWithFragmentationNeeded) {
  auto big = v4(1400, true);
  t.a.sendTun(big);
  t.net.runFor(milliseconds(200));
  EXPECT_TRUE(t.b.tun.empty());
  ASSERT_EQ(t.a.tun.size(), 1u);
  const auto& icmp = t.a.tun[0];
  ASSERT_GE(icmp.size(), 28u);
  EXPECT_EQ(icmp[9], 1);
  EXPECT_EQ(icmp[20], 3);
  EXPECT_EQ(icmp[21], 4);
  EXPECT_EQ(protocol::getBe16(&icmp[26]), 1228);
  EXPECT_TRUE(std::equal(icmp.begin() + 12, icmp.begin() + 16, big.begin() + 16));  // from bob
  EXPECT_EQ(t.a.status().drop("too_big_for_path"), 1u);
  auto fits = v4(1228, true);
  t.a.sendTun(fits);
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  EXPECT_EQ(t.b.tun[0], fits);
}

TEST_F(BlackHole, WhatMayNotBeRefusedGoesFragmentable) {
  auto no_df = v4(1400, false);
  t.a.sendTun(no_df);
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  EXPECT_EQ(t.b.tun[0], no_df);
  EXPECT_EQ(t.a.fragmentable_sent, 1u);
  // IPv6 up to 1280 bytes must be carried whatever the path (RFC 8200).
  auto v6 = makeIpv6("fd42::1", "fd42::2", numberedPayload(2, 1280 - 48 - 8));
  ASSERT_EQ(v6.size(), 1280u);
  t.b.tun.clear();
  t.a.sendTun(v6);
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  EXPECT_EQ(t.b.tun[0], v6);
  EXPECT_EQ(t.a.fragmentable_sent, 2u);
  // Above 1280 it gets "packet too big" naming 1280, the least an IPv6 sender will use.
  auto v6_big = makeIpv6("fd42::1", "fd42::2", numberedPayload(3, 1400 - 48 - 8));
  t.a.sendTun(v6_big);
  t.net.runFor(milliseconds(200));
  ASSERT_EQ(t.a.tun.size(), 1u);
  EXPECT_EQ(t.a.tun[0][40], 2);
  EXPECT_EQ(protocol::getBe32(&t.a.tun[0][44]), 1280u);
}

TEST_F(BlackHole, SynsAreClampedToThePath) {
  // A SYN from alice with MSS 1360 (what a 1400 MTU gives) and its checksum.
  std::vector<std::uint8_t> syn(44, 0);
  syn[0] = 0x45;
  protocol::putBe16(&syn[2], 44);
  syn[6] = 0x40;
  syn[8] = 64;
  syn[9] = 6;
  const std::uint8_t addrs[8] = {10, 42, 0, 1, 10, 42, 0, 2};
  std::copy(addrs, addrs + 8, syn.begin() + 12);
  protocol::putBe16(&syn[10], static_cast<std::uint16_t>(~protocol::checksumFold(
                                  protocol::checksumAdd({syn.data(), 20}))));
  std::uint8_t* tcp = &syn[20];
  protocol::putBe16(tcp, 40000);
  protocol::putBe16(tcp + 2, 22);
  tcp[12] = 6 << 4;
  tcp[13] = 0x02;
  tcp[20] = 2;
  tcp[21] = 4;
  protocol::putBe16(tcp + 22, 1360);
  auto tcp_sum = [&](const std::vector<std::uint8_t>& p) {
    std::uint64_t s = protocol::pseudoHeaderSum({&p[12], 4}, {&p[16], 4}, 6, 24);
    return protocol::checksumFold(protocol::checksumAdd({&p[20], 24}, s));
  };
  protocol::putBe16(tcp + 16, static_cast<std::uint16_t>(~tcp_sum(syn)));
  t.a.sendTun(syn);
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  const auto& got = t.b.tun[0];
  EXPECT_EQ(protocol::getBe16(&got[20 + 22]), 1228 - 40);
  EXPECT_EQ(tcp_sum(got), 0xFFFF);
}

// Before the search knows, a full-size packet is sent fragmentable: the black hole loses nothing.
TEST(PmtuSim, NothingIsLostWhileTheSearchRuns) {
  TwoPeers t;
  t.net.max_datagram = 1252;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  ASSERT_EQ(t.bobAtAlice().pmtu_state, "searching");
  auto big = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(9, 1400 - 36));
  big[6] |= 0x40;  // DF (the header checksum is not checked on the way)
  t.a.sendTun(big);
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  EXPECT_EQ(t.b.tun[0], big);
  EXPECT_EQ(t.a.fragmentable_sent, 1u);
  EXPECT_EQ(t.a.status().drop("too_big_for_path"), 0u);
  // Once the search knows, the same packet is refused instead.
  ASSERT_TRUE(t.net.runUntil([&] { return t.bobAtAlice().pmtu_state == "done"; }, seconds(30)));
  t.a.tun.clear();
  t.a.sendTun(big);
  t.net.runFor(milliseconds(100));
  EXPECT_EQ(t.a.status().drop("too_big_for_path"), 1u);
  EXPECT_EQ(t.a.tun.size(), 1u);
}

// A full-size packet sent before the session exists waits for the handshake, then goes out the
// way one sent after it would: fragmentable while the search runs, so the black hole loses it
// neither.
TEST(PmtuSim, APacketHeldForTheHandshakeIsNotLostWhileTheSearchRuns) {
  TwoPeers t;
  t.net.max_datagram = 1252;
  t.start();
  auto big = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(9, 1400 - 36));
  big[6] |= 0x40;  // DF
  t.a.sendTun(big);  // bob's address is not known yet: held
  ASSERT_TRUE(t.waitEstablished());
  ASSERT_TRUE(t.net.runUntil([&] { return !t.b.tun.empty(); }, seconds(2)));
  EXPECT_EQ(t.b.tun[0], big);
  EXPECT_EQ(t.a.fragmentable_sent, 1u);
  EXPECT_EQ(t.a.status().drop("no_route"), 0u);
}

TEST(PmtuSim, APeerWithoutProbesKeepsTheTunMtu) {
  TwoPeers t;
  // Bob is an older build: keepalives above 16 bytes of plaintext are refused (here: lost).
  t.net.on_route = [](Datagram& d) {
    return !(protocol::classify(d.bytes) == protocol::PacketFamily::kKeepalive &&
             d.bytes.size() > protocol::kDataOverhead + 16);
  };
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  ASSERT_TRUE(t.net.runUntil([&] { return t.bobAtAlice().pmtu_state == "unsupported"; },
                             seconds(30)));
  EXPECT_EQ(t.bobAtAlice().mtu, 1400u);
  t.expectDataFlows();
}

TEST(PmtuSim, DiscoveryOffProbesNothing) {
  TwoPeers t;
  t.opts_a.pmtu_discovery = false;
  t.opts_b.pmtu_discovery = false;
  std::size_t big_keepalives = 0;
  t.net.on_send = [&](const Datagram& d) {
    if (protocol::classify(d.bytes) == protocol::PacketFamily::kKeepalive &&
        d.bytes.size() > protocol::kDataOverhead + 16) {
      ++big_keepalives;
    }
  };
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.net.runFor(seconds(20));
  EXPECT_EQ(t.bobAtAlice().pmtu_state, "off");
  EXPECT_EQ(t.bobAtAlice().mtu, 1400u);
  EXPECT_EQ(big_keepalives, 0u);
}

}  // namespace
}  // namespace vpn::test
