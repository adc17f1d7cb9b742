// Connection set-up on a virtual clock (bench/setup_time.sh's question without the noise): two
// peers behind port-restricted cone NATs started at the same instant, every datagram DELAY one
// way (peer <-> peer and peer <-> rendezvous alike), an inner ping every 10 ms from alice to bob;
// how long until the first one arrives, in round-trip times. SETUP_TRACE=1 prints every datagram.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "tests/sim/path_harness.hpp"

namespace vpn::test {
namespace {

// The time from start to the first inner packet at bob, with `delay` on every datagram.
Duration firstPing(Duration delay, NatType a, NatType b) {
  Pair p(a, b);
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

// The critical path: cookie (1 RTT) and TLS (1 RTT) with the rendezvous, REGISTER and LOOKUP in
// one flight (0.5), the introduction (0.5), the probes (0.5; the handshake starts on the first
// probe from where ours went), ClientHello and server flight (1), Finished with the first packet
// (0.5): 5 RTT one way, 5.5 for a ping's round trip. Before the lookup went with the REGISTER
// and the handshake waited for a probe reply it was 6.5.
TEST(SetupSim, PortRestrictedPairIsUpInFiveRoundTrips) {
  for (int ms : {20, 50}) {
    Duration d = firstPing(milliseconds(ms), NatType::kPortRestrictedCone,
                           NatType::kPortRestrictedCone);
    EXPECT_LE(rtts(d, milliseconds(ms)), 5.0) << ms << " ms one way";
  }
}

TEST(SetupSim, ConeAndSymmetricPairsAreUpInFiveRoundTrips) {
  Duration d = firstPing(milliseconds(20), NatType::kFullCone, NatType::kFullCone);
  EXPECT_LE(rtts(d, milliseconds(20)), 5.0);
  // Symmetric on one side: its probes come from a new port, found as a peer-reflexive candidate
  // and probed before the handshake can start: one round trip more (7 before).
  d = firstPing(milliseconds(20), NatType::kFullCone, NatType::kSymmetric);
  EXPECT_LE(rtts(d, milliseconds(20)), 6.0);
}

}  // namespace
}  // namespace vpn::test
