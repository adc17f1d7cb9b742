#pragma once
// TwoPeers: alice and bob, each an Engine on a SimNetwork with a FakeClock, configured with each
// other's static endpoint (alice is the TLS client), and Tap, which collects the data datagrams one
// node sends. Shared by the engine simulations.
#include <gtest/gtest.h>

#include <vector>

#include "client/engine/engine.hpp"
#include "protocol/packet_type.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/fakes/sim_network.hpp"
#include "tests/fakes/test_pki.hpp"

namespace vpn::test {

using client::EngineOptions;
using client::EngineStatus;
using client::PeerStatus;

inline protocol::Endpoint ep(const char* text) { return *protocol::Endpoint::parse(text); }

inline std::uint64_t totalDrops(const EngineStatus& st) {
  std::uint64_t n = 0;
  for (const auto& [reason, count] : st.drops) {
    n += count;
  }
  return n;
}

class TwoPeers {
 public:
  explicit TwoPeers(std::uint64_t seed = 1, LinkConfig link = {})
      : net(clock, seed), a(net.addNode(ep_a)), b(net.addNode(ep_b)) {
    net.setLink(link);
    ctx_a = pki.makeContext("alice", {"10.42.0.1/24", "fd42::1/64"});
    ctx_b = pki.makeContext("bob", {"10.42.0.2/24", "fd42::2/64"});
    opts_a.own_name = "alice";
    opts_a.peers = {{"bob", ep_b}};
    opts_b.own_name = "bob";
    opts_b.peers = {{"alice", ep_a}};
  }

  void start() {
    a.startEngine(*ctx_a, opts_a);
    b.startEngine(*ctx_b, opts_b);
  }

  PeerStatus peerOf(SimNode& n, const char* name) {
    auto st = n.status();
    const PeerStatus* p = st.peer(name);
    EXPECT_NE(p, nullptr);
    return p != nullptr ? *p : PeerStatus{};
  }
  PeerStatus bobAtAlice() { return peerOf(a, "bob"); }
  PeerStatus aliceAtBob() { return peerOf(b, "alice"); }
  bool bothEstablished() {
    return bobAtAlice().state == "established" && aliceAtBob().state == "established";
  }
  bool waitEstablished(Duration limit = seconds(30)) {
    return net.runUntil([&] { return bothEstablished(); }, limit);
  }
  // Sends one packet each way and checks it arrives byte-exact.
  void expectDataFlows(std::uint64_t tag = 7) {
    auto pa = makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(tag));
    auto pb = makeIpv4("10.42.0.2", "10.42.0.1", numberedPayload(tag + 1));
    a.tun.clear();
    b.tun.clear();
    a.sendTun(pa);
    b.sendTun(pb);
    ASSERT_TRUE(net.runUntil([&] { return !a.tun.empty() && !b.tun.empty(); }, seconds(5)));
    ASSERT_EQ(b.tun.size(), 1u);
    ASSERT_EQ(a.tun.size(), 1u);
    EXPECT_EQ(b.tun[0], pa);
    EXPECT_EQ(a.tun[0], pb);
  }

  FakeClock clock;
  TestPki pki;
  protocol::Endpoint ep_a = ep("192.0.2.1:51820");
  protocol::Endpoint ep_b = ep("198.51.100.2:51820");
  SimNetwork net;
  SimNode& a;
  SimNode& b;
  std::unique_ptr<crypto::TlsContext> ctx_a, ctx_b;
  EngineOptions opts_a, opts_b;
};

// Collects the data datagrams one node sends.
struct Tap {
  explicit Tap(SimNetwork& net, protocol::Endpoint from) {
    net.on_send = [this, from](const Datagram& d) {
      if (d.from == from && protocol::classify(d.bytes) == protocol::PacketFamily::kData) {
        data.push_back(d);
      }
    };
  }
  std::vector<Datagram> data;
};

inline LinkConfig lossyLink() {
  LinkConfig l;
  l.loss = 0.2;
  l.reorder = 0.3;
  l.duplicate = 0.05;
  l.delay = milliseconds(25);
  l.jitter = milliseconds(10);
  l.reorder_extra = milliseconds(60);
  return l;
}

}  // namespace vpn::test
