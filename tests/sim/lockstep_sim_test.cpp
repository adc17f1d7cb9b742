// Port prediction between two symmetric NATs that allocate ports in sequence (lockstep,
// docs/paths.md rule 14), on a virtual clock. Without it the pair is relayed. With it, each peer
// reads its NAT's next port just before it looks the other up, the rendezvous passes both
// readings on in one introduction, and both probe the ports the other's NAT hands out next.
#include <gtest/gtest.h>

#include <string>

#include "crypto/network_key.hpp"
#include "tests/sim/punch_harness.hpp"

namespace vpn::test {
namespace {

struct LockstepWorld {
  PunchWorld w;
  SimulatedNat* nat1 = nullptr;
  SimulatedNat* nat2 = nullptr;
  PunchPeer* a = nullptr;  // behind NAT 1
  PunchPeer* b = nullptr;  // behind NAT 2
  std::size_t to_nat1 = 0;  // b's datagrams to NAT 1's address (before its NAT)
  std::size_t to_nat2 = 0;

  // stride_*: what each daemon's NAT discovery found (0: not in sequence). step2: NAT 2's real
  // step between mappings.
  LockstepWorld(bool predict, std::uint8_t stride_a, std::uint8_t stride_b,
                std::uint16_t step2 = 1, bool network_key = false)
      : w(5) {
    if (network_key) {  // the readings' STUN then travels sealed, as handshakes do
      auto key = crypto::networkKeyFromCa(w.pki.caCert());
      w.rv->stop();
      w.rv->options().network_key = key;
      w.rv->start();
    }
    nat1 = &w.addNat(NatType::kSymmetric, 1);
    nat2 = &w.addNat(NatType::kSymmetric, 2);
    nat2->setPortStep(step2);
    a = &w.addPeer("a", "10.42.0.1", parseEp("10.0.1.2:51820"));
    b = &w.addPeer("b", "10.42.0.2", parseEp("10.0.2.2:51820"));
    for (auto* p : {a, b}) {
      p->options.port_prediction = predict;
      if (network_key) {
        p->options.network_key = crypto::networkKeyFromCa(w.pki.caCert());
      }
    }
    w.net.on_send = [this](const Datagram& d) {
      if (d.from == b->node->endpoint() && d.to.address().toString() == "198.51.100.1") {
        ++to_nat1;
      }
      if (d.from == a->node->endpoint() && d.to.address().toString() == "198.51.100.2") {
        ++to_nat2;
      }
    };
    w.startAll();
    a->node->engine().setPortStride(w.clock.now(), stride_a);
    b->node->engine().setPortStride(w.clock.now(), stride_b);
    a->node->engine().setNatType(w.clock.now(), protocol::NatType::kSymmetric);
    b->node->engine().setNatType(w.clock.now(), protocol::NatType::kSymmetric);
  }
  bool direct() {
    return w.established(*a, *b) && w.peerStatus(*a, "b").path == "direct-udp" &&
           w.peerStatus(*b, "a").path == "direct-udp";
  }
  client::EngineStatus status(PunchPeer& p) { return p.node->engine().status(w.clock.now()); }
};

TEST(LockstepSim, WithoutPredictionTheSequentialPairIsRelayed) {
  LockstepWorld l(false, 1, 1);
  ASSERT_TRUE(l.w.waitEstablished(*l.a, *l.b, seconds(15))) << l.w.describe();
  l.w.net.runFor(seconds(12));
  auto s = l.w.peerStatus(*l.a, "b");
  EXPECT_EQ(s.path, "relay-udp") << l.w.describe();
  EXPECT_EQ(s.prediction, "");
  EXPECT_NE(s.path_reason.find("allocate ports in sequence"), std::string::npos) << s.path_reason;
  EXPECT_EQ(l.status(*l.a).port_readings, 0u);
}

TEST(LockstepSim, ReadingsAndLockstepProbesFindADirectPath) {
  LockstepWorld l(true, 1, 1);
  Instant start = l.w.clock.now();
  ASSERT_TRUE(l.w.net.runUntil([&] { return l.direct(); }, seconds(12))) << l.w.describe();
  EXPECT_LT(l.w.clock.now() - start, seconds(4));
  auto sa = l.w.peerStatus(*l.a, "b");
  auto sb = l.w.peerStatus(*l.b, "a");
  EXPECT_NE(sa.prediction.find("lockstep"), std::string::npos) << sa.prediction;
  EXPECT_NE(sb.prediction.find("lockstep"), std::string::npos) << sb.prediction;
  EXPECT_TRUE(sa.prediction.find("answered") != std::string::npos ||
              sb.prediction.find("answered") != std::string::npos)
      << sa.prediction << " / " << sb.prediction;
  // The session runs between the two NATs' public addresses, on mappings made by the probes.
  ASSERT_TRUE(sa.endpoint.has_value());
  EXPECT_EQ(sa.endpoint->address().toString(), "198.51.100.2");
  EXPECT_TRUE(l.w.dataFlows(*l.a, *l.b));
  // Each side read its NAT at least once, and the readings' sockets are closed again.
  EXPECT_GE(l.status(*l.a).port_readings, 1u);
  EXPECT_GE(l.status(*l.b).port_readings, 1u);
  EXPECT_EQ(l.status(*l.a).nat_port_stride, 1u);
  EXPECT_EQ(l.a->node->predictionSocketsOpen(), 0u);
  EXPECT_EQ(l.b->node->predictionSocketsOpen(), 0u);
  // The probe budget (256 per introduction) holds, with ordinary punch probes and keepalives.
  l.w.net.runFor(seconds(20));
  EXPECT_LE(l.to_nat1, 2 * 256u + 100u);
  EXPECT_LE(l.to_nat2, 2 * 256u + 100u);
  EXPECT_TRUE(l.direct()) << l.w.describe();
  EXPECT_TRUE(l.w.dataFlows(*l.a, *l.b, 9));
}

TEST(LockstepSim, OtherHostsTakingPortsMidPunchAreCoveredByTheShift) {
  // Just as b starts probing, other hosts behind NAT 2 take 6 ports: b's probes leave 6 ports
  // later than a aims. The client's shifted groups still meet them.
  LockstepWorld l(true, 1, 1);
  bool skipped = false;
  auto count = l.w.net.on_send;
  l.w.net.on_send = [&](const Datagram& d) {
    count(d);
    if (!skipped && l.to_nat1 > 0) {
      skipped = true;
      l.nat2->skipPorts(6);
    }
  };
  ASSERT_TRUE(l.w.net.runUntil([&] { return l.direct(); }, seconds(12))) << l.w.describe();
  EXPECT_TRUE(skipped);
  EXPECT_TRUE(l.w.dataFlows(*l.a, *l.b));
}

TEST(LockstepSim, ReadingsWorkWithANetworkKey) {
  LockstepWorld l(true, 1, 1, 1, true);
  ASSERT_TRUE(l.w.net.runUntil([&] { return l.direct(); }, seconds(12))) << l.w.describe();
  EXPECT_GE(l.status(*l.a).port_readings, 1u);
  EXPECT_EQ(l.status(*l.a).port_readings_failed, 0u);
  EXPECT_TRUE(l.w.dataFlows(*l.a, *l.b));
}

TEST(LockstepSim, AStepOfTwoIsFollowed) {
  LockstepWorld l(true, 1, 2, 2);
  ASSERT_TRUE(l.w.net.runUntil([&] { return l.direct(); }, seconds(12))) << l.w.describe();
  EXPECT_TRUE(l.w.dataFlows(*l.a, *l.b));
}

TEST(LockstepSim, WithoutASequentialNatOnOurSideThePairStaysRelayedAndSaysWhy) {
  LockstepWorld l(true, 0, 1);
  ASSERT_TRUE(l.w.waitEstablished(*l.a, *l.b, seconds(15))) << l.w.describe();
  l.w.net.runFor(seconds(12));
  auto s = l.w.peerStatus(*l.a, "b");
  EXPECT_EQ(s.path, "relay-udp") << l.w.describe();
  EXPECT_NE(s.path_reason.find("ours does not"), std::string::npos) << s.path_reason;
  // b still reads its NAT for its lookups, but a sends no reading, so nobody probes in step.
  EXPECT_EQ(l.status(*l.a).port_readings, 0u);
  EXPECT_EQ(s.prediction, "");
}

}  // namespace
}  // namespace vpn::test
