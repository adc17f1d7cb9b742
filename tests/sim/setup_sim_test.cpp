// Connection set-up on a virtual clock (bench/setup_time.sh's question without the noise): two
// peers behind port-restricted cone NATs started at the same instant, every datagram DELAY one
// way (peer <-> peer and peer <-> rendezvous alike), an inner ping every 10 ms from alice to bob;
// how long until the first one arrives, in round-trip times. SETUP_TRACE=1 prints every datagram.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "tests/sim/path_harness.hpp"

namespace vpn::test {
namespace {

// The time from start to the first inner packet at bob, with `delay` on every datagram.
// `lose_early_hello`: the network drops the first ClientHello from alice to a peer (as when it
// reaches bob's NAT before bob's first probe opened it).
Duration firstPing(Duration delay, NatType a, NatType b, bool early_hello = true,
                   bool lose_early_hello = false) {
  Pair p(a, b);
  p.alice->options.early_hello = early_hello;
  p.bob->options.early_hello = early_hello;
  if (lose_early_hello) {
    auto route = p.w.net.on_route;
    auto lost = std::make_shared<bool>(false);
    p.w.net.on_route = [route, lost, from = p.alice->node->endpoint()](Datagram& d) {
      if (!*lost && d.from == from && d.to.address() == protocol::IpAddress::v4(0xC6336402u) &&
          !d.bytes.empty() && d.bytes[0] == protocol::kTypeHandshake) {
        *lost = true;
        return false;
      }
      return route ? route(d) : true;
    };
  }
  LinkConfig link;
  link.delay = delay;
  p.w.net.setLink(link);
  const bool trace = std::getenv("SETUP_TRACE") != nullptr;
  Instant t0 = p.w.clock.now();
  p.w.net.on_send = [&](const Datagram& d) {
    if (trace) {
      std::printf("%7.1f ms %-21s -> %-21s %02x %4zu%s\n",
                  std::chrono::duration<double, std::milli>(p.w.clock.now() - t0).count(),
                  d.from.toString().c_str(), d.to.toString().c_str(),
                  d.bytes.empty() ? 0 : d.bytes[0], d.bytes.size(), d.tcp ? " tcp" : "");
    }
  };
  p.w.startAll();
  for (std::uint64_t i = 0; i < 300; ++i) {
    p.alice->node->sendTun(makeIpv4(p.alice->overlay, p.bob->overlay, numberedPayload(i)));
    p.w.net.runFor(milliseconds(10));
    if (!p.bob->node->tun.empty()) {
      return p.w.clock.now() - t0;
    }
  }
  return seconds(3600);
}

double rtts(Duration d, Duration one_way) {
  double r = std::chrono::duration<double>(d) / std::chrono::duration<double>(2 * one_way);
  std::printf("first packet after %.1f ms, %.2f RTT\n",
              std::chrono::duration<double, std::milli>(d).count(), r);
  return r;
}

// The critical path: TLS with the rendezvous (1 RTT; a new source skips the cookie round trip
// while the server is not under load), REGISTER and LOOKUP in one flight (0.5), the introduction
// (0.5), our ClientHello with the first probes and the server's flight (1), Finished with the
// first packet (0.5): 3.5 RTT one way, 4 for a ping's round trip. It was 6.5 before the lookup
// went with the REGISTER and the handshake stopped waiting for a probe's reply, and 5 before the
// cookie became a measure for load and the ClientHello went with the probes.
TEST(SetupSim, PortRestrictedPairIsUpInThreeAndAHalfRoundTrips) {
  for (int ms : {20, 50}) {
    Duration d = firstPing(milliseconds(ms), NatType::kPortRestrictedCone,
                           NatType::kPortRestrictedCone);
    rtts(d, milliseconds(ms));
    EXPECT_LE(d, 7 * milliseconds(ms)) << ms << " ms one way";  // 3.5 round trips
  }
}

// Without the early ClientHello the handshake starts when the first probe arrives: half a round
// trip later.
TEST(SetupSim, TheEarlyClientHelloSavesHalfARoundTrip) {
  Duration with = firstPing(milliseconds(20), NatType::kPortRestrictedCone,
                            NatType::kPortRestrictedCone, true);
  Duration without = firstPing(milliseconds(20), NatType::kPortRestrictedCone,
                               NatType::kPortRestrictedCone, false);
  EXPECT_EQ(without - with, milliseconds(20));
}

// Lost on the way, it is sent again as soon as the peer's probe shows the path works: no slower
// than without it.
TEST(SetupSim, ALostEarlyClientHelloIsResentWhenTheProbeArrives) {
  Duration d = firstPing(milliseconds(20), NatType::kPortRestrictedCone,
                         NatType::kPortRestrictedCone, true, true);
  rtts(d, milliseconds(20));
  EXPECT_LE(d, milliseconds(160));  // 4 round trips, as without the early ClientHello
}

TEST(SetupSim, ConeAndSymmetricPairsAreUpInFiveRoundTrips) {
  Duration d = firstPing(milliseconds(20), NatType::kFullCone, NatType::kFullCone);
  rtts(d, milliseconds(20));
  EXPECT_LE(d, milliseconds(140));  // 3.5 round trips
  // Symmetric on one side: its probes come from a new port, found as a peer-reflexive candidate
  // and probed before the handshake can start (the early ClientHello to the symmetric side's
  // reflexive endpoint meets a closed port there): 1.5 round trips more.
  d = firstPing(milliseconds(20), NatType::kFullCone, NatType::kSymmetric);
  rtts(d, milliseconds(20));
  EXPECT_LE(d, milliseconds(200));  // 5 round trips
}

// Both peers restart on new ports (as in every run of bench/setup_time.sh after the first) while
// the rendezvous still holds their old registrations. A lookup that arrives just before the
// other's new REGISTER is answered from the old one; the introduction made a moment later names
// the new port, and the early ClientHello, which has heard nothing yet, follows it there. Without
// that it went to the old port, and the handshake waited for the probes: half a round trip more.
TEST(SetupSim, AfterARestartTheEarlyClientHelloFollowsTheNewestIntroduction) {
  Pair p(NatType::kPortRestrictedCone, NatType::kPortRestrictedCone);
  p.w.startAll();
  ASSERT_TRUE(p.w.waitEstablished(*p.alice, *p.bob, seconds(10))) << p.w.describe();
  for (auto* peer : {p.alice, p.bob}) {
    peer->node->stopEngine();
  }
  p.w.net.runFor(seconds(1));
  LinkConfig link;
  link.delay = milliseconds(20);
  p.w.net.setLink(link);
  p.alice->node->moveTo(parseEp("10.0.1.2:51821"));
  p.bob->node->moveTo(parseEp("10.0.2.2:51821"));
  Instant t0 = p.w.clock.now();
  p.w.net.on_send = [&](const Datagram& d) {
    if (std::getenv("SETUP_TRACE") != nullptr) {
      std::printf("%7.1f ms %-21s -> %-21s %02x %4zu\n",
                  std::chrono::duration<double, std::milli>(p.w.clock.now() - t0).count(),
                  d.from.toString().c_str(), d.to.toString().c_str(),
                  d.bytes.empty() ? 0 : d.bytes[0], d.bytes.size());
    }
  };
  p.w.start(*p.alice);
  p.w.net.runFor(milliseconds(1));  // alice's lookup reaches the rendezvous before bob's REGISTER
  p.w.start(*p.bob);
  Duration d = seconds(3600);
  for (std::uint64_t i = 0; i < 300; ++i) {
    p.alice->node->sendTun(makeIpv4(p.alice->overlay, p.bob->overlay, numberedPayload(i)));
    p.w.net.runFor(milliseconds(10));
    if (!p.bob->node->tun.empty()) {
      d = p.w.clock.now() - t0;
      break;
    }
  }
  rtts(d, milliseconds(20));
  // 3.5 round trips from bob's start, as a first start (161 ms when the ClientHello stayed).
  EXPECT_LE(d, milliseconds(141)) << p.w.describe();
}

}  // namespace
}  // namespace vpn::test
