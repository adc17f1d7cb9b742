// The rendezvous engine against many REAL peer engines (client/engine) behind simulated NATs, on a
// virtual clock: what the server learns about each peer, that refreshes keep registrations alive
// for a long time with no unexpected drops on either side, and that a vanished peer expires.
#include <gtest/gtest.h>

#include "tests/sim/punch_harness.hpp"

namespace vpn::test {
namespace {

struct Crowd {
  PunchWorld w;
  std::vector<PunchPeer*> peers;
  std::vector<std::string> public_address;  // what the server should see, by peer

  explicit Crowd(int nats, int per_nat, int open) {
    int x = 1;
    for (int i = 1; i <= nats; ++i) {
      w.addNat(NatType::kPortRestrictedCone, i);
      for (int j = 0; j < per_nat; ++j) {
        auto at = "10.0." + std::to_string(i) + "." + std::to_string(j + 2) + ":51820";
        peers.push_back(&w.addPeer("p" + std::to_string(x), "10.42.0." + std::to_string(x),
                                   parseEp(at.c_str())));
        public_address.push_back("198.51.100." + std::to_string(i));
        ++x;
      }
    }
    for (int k = 0; k < open; ++k) {
      auto at = "192.0.2." + std::to_string(k + 10) + ":51820";
      peers.push_back(&w.addPeer("p" + std::to_string(x), "10.42.0." + std::to_string(x),
                                 parseEp(at.c_str())));
      public_address.push_back("192.0.2." + std::to_string(k + 10));
      ++x;
    }
    for (auto* p : peers) {
      w.start(*p);  // no [[peers]]: they only register
    }
  }

  bool allRegistered() {
    for (auto* p : peers) {
      if (!w.registered(*p)) {
        return false;
      }
    }
    return true;
  }

  std::uint64_t rvDrops(const std::string& reason) {
    for (const auto& [r, c] : w.rv->engine().status(w.clock.now(), false).drops) {
      if (r == reason) {
        return c;
      }
    }
    return 0;
  }
};

TEST(RendezvousSim, ManyRealPeersRegisterAndTheServerKnowsWhereTheyAre) {
  Crowd c(5, 4, 4);
  ASSERT_TRUE(c.w.net.runUntil([&] { return c.allRegistered(); }, seconds(30)))
      << c.w.describe();
  auto st = c.w.rv->engine().status(c.w.clock.now());
  ASSERT_EQ(st.peers.size(), c.peers.size());
  for (std::size_t i = 0; i < c.peers.size(); ++i) {
    const auto& name = c.peers[i]->name;
    auto it = std::find_if(st.peers.begin(), st.peers.end(),
                           [&](const auto& p) { return p.name == name; });
    ASSERT_NE(it, st.peers.end()) << name;
    EXPECT_EQ(it->endpoint.address().toString(), c.public_address[i]) << name;
    ASSERT_EQ(it->addresses.size(), 1u);
    EXPECT_EQ(it->addresses[0].toString(), c.peers[i]->overlay + "/24");
    ASSERT_EQ(it->candidates.size(), 1u) << name;
    EXPECT_EQ(it->candidates[0].endpoint, c.peers[i]->node->endpoint());
    // The peer's own view of its reflexive endpoint matches the server's.
    auto ps = c.peers[i]->node->status();
    ASSERT_EQ(ps.rendezvous.size(), 1u);
    ASSERT_TRUE(ps.rendezvous[0].reflexive.has_value());
    EXPECT_EQ(*ps.rendezvous[0].reflexive, it->endpoint);
  }
  EXPECT_EQ(st.counters.handshakes, c.peers.size());
}

TEST(RendezvousSim, RefreshesKeepRegistrationsAliveWithoutUnexpectedDrops) {
  Crowd c(3, 3, 3);
  ASSERT_TRUE(c.w.net.runUntil([&] { return c.allRegistered(); }, seconds(30)));
  c.w.net.runFor(seconds(600));  // many refresh periods, several expiry windows
  EXPECT_TRUE(c.allRegistered()) << c.w.describe();
  auto st = c.w.rv->engine().status(c.w.clock.now(), false);
  EXPECT_EQ(st.counters.expired, 0u);
  EXPECT_EQ(st.counters.replaced, 0u);
  EXPECT_EQ(st.sessions, c.peers.size());
  EXPECT_EQ(st.lingering_handshakes, 0u);
  EXPECT_GT(st.counters.registrations, c.peers.size());  // re-registrations
  for (const char* reason : {"malformed", "auth_failed", "replay", "unexpected_message",
                             "not_established", "handshake_failed", "lookup_rate_limited"}) {
    EXPECT_EQ(c.rvDrops(reason), 0u) << reason;
  }
}

TEST(RendezvousSim, AVanishedPeerExpiresAndALookupForItFails) {
  Crowd c(2, 2, 0);
  ASSERT_TRUE(c.w.net.runUntil([&] { return c.allRegistered(); }, seconds(30)));
  c.peers[0]->node->stopEngine();
  c.w.net.runFor(seconds(3 * 25 + 5));
  auto st = c.w.rv->engine().status(c.w.clock.now());
  EXPECT_EQ(st.counters.expired, 1u);
  EXPECT_EQ(st.peers.size(), c.peers.size() - 1);
  for (const auto& p : st.peers) {
    EXPECT_NE(p.name, c.peers[0]->name);
  }
}

}  // namespace
}  // namespace vpn::test
