// The network key (docs/hardening.md, "Network key") on a virtual clock: members with the same
// key connect directly and through the relay with every handshake packet sealed on the wire; a
// host without the key, or with another one, gets not one byte back from a peer or the
// rendezvous (each case next to a control run without keys, which does answer); each mismatch is
// counted where it happens. (The rendezvous alone: tests/unit/rendezvous/rendezvous_network_key_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "crypto/network_key.hpp"
#include "crypto/random.hpp"
#include "protocol/relay_packet.hpp"
#include "protocol/sealed_packet.hpp"
#include "tests/sim/punch_harness.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

crypto::NetworkKey randomKey() {
  std::array<std::uint8_t, 32> raw{};
  crypto::randomBytes(raw);
  return crypto::NetworkKey(crypto::NetworkKey::Source::kFile, raw);
}

// Counts, per first byte, the datagrams on the wire (and the inner datagrams of relay packets).
struct WireTally {
  std::map<std::uint8_t, int> outer, relayed_inner;
  void add(const Datagram& d) {
    if (d.bytes.empty()) {
      return;
    }
    outer[d.bytes[0]]++;
    if (d.bytes[0] == protocol::kTypeRelay && d.bytes.size() > protocol::kRelayHeaderSize) {
      relayed_inner[d.bytes[protocol::kRelayHeaderSize]]++;
    }
  }
  int plainHandshakes() const {
    auto n = [](const std::map<std::uint8_t, int>& m, std::uint8_t t) {
      auto it = m.find(t);
      return it == m.end() ? 0 : it->second;
    };
    return n(outer, protocol::kTypeHandshake) + n(outer, protocol::kTypeCookieReply) +
           n(relayed_inner, protocol::kTypeHandshake);
  }
  int sealed() const {
    auto it = outer.find(protocol::kTypeSealed);
    auto jt = relayed_inner.find(protocol::kTypeSealed);
    return (it == outer.end() ? 0 : it->second) + (jt == relayed_inner.end() ? 0 : jt->second);
  }
};

TEST(NetworkKeySim, MembersWithTheSameKeyConnectAndNoHandshakeTravelsPlain) {
  TwoPeers t;
  auto key = randomKey();
  t.opts_a.network_key = key;
  t.opts_b.network_key = key;
  WireTally wire;
  t.net.on_send = [&](const Datagram& d) { wire.add(d); };
  t.start();
  ASSERT_TRUE(t.waitEstablished(seconds(10)));
  t.expectDataFlows();
  EXPECT_EQ(wire.plainHandshakes(), 0);
  EXPECT_GT(wire.sealed(), 0);
  auto st = t.a.status();
  EXPECT_EQ(st.network_key, "file");
  EXPECT_EQ(st.network_key_fingerprint, key.fingerprint());
  EXPECT_EQ(totalDrops(st), 0u);
}

TEST(NetworkKeySim, KeysDerivedFromTheSameCaConnect) {
  TwoPeers t;
  t.opts_a.network_key = crypto::networkKeyFromCa(t.pki.caCert());
  t.opts_b.network_key = crypto::networkKeyFromCa(t.pki.caCert());
  t.start();
  ASSERT_TRUE(t.waitEstablished(seconds(10)));
  EXPECT_EQ(t.a.status().network_key, "ca");
}

// mallory holds a valid certificate for "alice" (a member's stolen files, minus the network key)
// and dials bob from another address. Returns the bytes bob sent to mallory's address.
std::size_t bytesBobSendsToMallory(std::optional<crypto::NetworkKey> bob_key,
                                   std::optional<crypto::NetworkKey> mallory_key,
                                   EngineStatus* bob_status = nullptr) {
  TwoPeers t;
  t.opts_b.network_key = bob_key;
  const protocol::Endpoint at = ep("203.0.113.66:51820");
  SimNode& mallory = t.net.addNode(at);
  auto ctx = t.pki.makeContext("alice", {"10.42.0.1/24"});
  EngineOptions m;
  m.own_name = "alice";
  m.peers = {{"bob", t.ep_b}};
  m.network_key = mallory_key;
  std::size_t to_mallory = 0;
  t.net.on_send = [&](const Datagram& d) {
    if (d.from == t.ep_b && d.to == at) {
      to_mallory += d.bytes.size();
    }
  };
  t.b.startEngine(*t.ctx_b, t.opts_b);
  mallory.startEngine(*ctx, m);
  t.net.runFor(seconds(20));
  if (bob_status != nullptr) {
    *bob_status = t.b.status();
  }
  return to_mallory;
}

TEST(NetworkKeySim, APeerAnswersNothingToAHostWithoutTheKey) {
  // Control: without keys bob answers mallory (a cookie, then a TLS flight).
  EXPECT_GT(bytesBobSendsToMallory(std::nullopt, std::nullopt), 0u);
  EngineStatus st;
  EXPECT_EQ(bytesBobSendsToMallory(randomKey(), std::nullopt, &st), 0u);
  EXPECT_GT(st.drop("network_key_missing"), 0u);
  EXPECT_EQ(st.drop("network_key_mismatch"), 0u);
}

TEST(NetworkKeySim, APeerAnswersNothingToAHostWithAnotherKey) {
  EngineStatus st;
  EXPECT_EQ(bytesBobSendsToMallory(randomKey(), randomKey(), &st), 0u);
  EXPECT_GT(st.drop("network_key_mismatch"), 0u);
  EXPECT_EQ(st.drop("network_key_missing"), 0u);
}

TEST(NetworkKeySim, AKeyOnOneSideOnlyKeepsThePairApartAndSaysWhy) {
  TwoPeers t;
  t.opts_b.network_key = randomKey();
  t.start();
  t.net.runFor(seconds(15));
  EXPECT_FALSE(t.bothEstablished());
  EXPECT_GT(t.b.status().drop("network_key_missing"), 0u);
  EXPECT_GT(t.a.status().drop("network_key_unexpected"), 0u);
}

// Symmetric NATs on both sides: the pair ends relayed, its handshake sealed inside the relay
// packets (the rendezvous opens a copy to check the HELLO's name).
TEST(NetworkKeySim, RelayedPairConnectsWithSealedHandshakes) {
  PunchWorld w;
  auto key = randomKey();
  rendezvous::RendezvousOptions ro;
  ro.network_key = key;
  w.rv.reset();  // first: the old host unregisters its address when it goes
  w.rv = std::make_unique<RendezvousHost>(w.net, parseEp("203.0.113.1:7000"), *w.rv_tls,
                                          std::nullopt, ro);
  w.addNat(NatType::kSymmetric, 1);
  w.addNat(NatType::kSymmetric, 2);
  auto& alice = w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
  auto& bob = w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  alice.options.network_key = key;
  bob.options.network_key = key;
  WireTally wire;
  w.net.on_send = [&](const Datagram& d) { wire.add(d); };
  w.startAll();
  ASSERT_TRUE(w.waitEstablished(alice, bob, seconds(6))) << w.describe();
  EXPECT_TRUE(w.dataFlows(alice, bob));
  EXPECT_EQ(w.peerStatus(alice, "bob").path, "relay-udp");
  EXPECT_EQ(wire.plainHandshakes(), 0);
  EXPECT_GT(wire.relayed_inner[protocol::kTypeSealed], 0);
  auto rs = w.rv->engine().status(w.clock.now());
  EXPECT_EQ(rs.network_key, "file");
  EXPECT_GT(rs.counters.relayed_packets, 0u);
  for (const auto& [reason, count] : rs.drops) {
    EXPECT_NE(reason.rfind("network_key", 0), 0u) << reason << " " << count;
  }
}

TEST(NetworkKeySim, APeerWithAnotherKeyCannotRegister) {
  PunchWorld w;
  rendezvous::RendezvousOptions ro;
  ro.network_key = randomKey();
  w.rv.reset();  // first: the old host unregisters its address when it goes
  w.rv = std::make_unique<RendezvousHost>(w.net, parseEp("203.0.113.1:7000"), *w.rv_tls,
                                          std::nullopt, ro);
  auto& carol = w.addPeer("carol", "10.42.0.3", parseEp("192.0.2.3:51820"));
  carol.options.network_key = randomKey();
  std::size_t answers = 0;
  w.net.on_send = [&](const Datagram& d) {
    if (d.from == w.rv->endpoint()) {
      answers += d.bytes.size();
    }
  };
  w.startAll();
  w.net.runFor(seconds(10));
  EXPECT_FALSE(w.registered(carol));
  EXPECT_EQ(answers, 0u);
  auto rs = w.rv->engine().status(w.clock.now());
  std::uint64_t mismatches = 0;
  for (const auto& [reason, count] : rs.drops) {
    if (reason == "network_key_mismatch") {
      mismatches = count;
    }
  }
  EXPECT_GT(mismatches, 0u);
}

}  // namespace
}  // namespace vpn::test
