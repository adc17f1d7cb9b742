// HELLO_VIA and HELLO_FROM: a peer's first handshake packet for another, kept briefly and passed
// on right after the INTRODUCE whenever the two are introduced; what is not a first packet in
// the sender's own name is not kept.
#include <gtest/gtest.h>

#include <array>

#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;

struct Two {
  RvHarness::Node* alice;
  RvHarness::Node* bob;
};

Two registerTwo(RvHarness& h) {
  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, *Endpoint::parse("198.51.100.7:40001"));
  auto& bob = h.addPeer("bob", {"10.42.0.2/24"}, *Endpoint::parse("192.0.2.9:61000"));
  h.start(alice);
  h.start(bob);
  h.send(alice, [](RvTestPeer& p, auto& s) { p.sendRegister({}, s); });
  h.send(bob, [](RvTestPeer& p, auto& s) { p.sendRegister({}, s); });
  return {&alice, &bob};
}

// A first handshake packet as a TLS client sends it (unpadded), with `flags` added.
std::vector<std::uint8_t> firstPacket(const std::string& name, std::uint8_t flags = 0,
                                      std::uint32_t packet_id = 1) {
  std::array<std::uint8_t, 200> payload{};
  payload.fill(0x16);
  protocol::HandshakePacket p;
  p.flags = protocol::kFlagHello | protocol::kFlagPayload | flags;
  p.sender_index = 0x11223344;
  p.packet_id = packet_id;
  p.name = name;
  p.payload = payload;
  std::array<std::uint8_t, protocol::kMaxHandshakePacket> buf{};
  std::size_t n = protocol::serializeHandshake(p, {}, buf);
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
}

std::size_t countOf(const std::vector<protocol::ControlMessage>& inbox, std::size_t type_index) {
  std::size_t n = 0;
  for (const auto& m : inbox) {
    n += m.index() == type_index ? 1u : 0u;
  }
  return n;
}

constexpr std::size_t kHelloFromIndex =
    protocol::ControlMessage(protocol::HelloFromMsg{}).index();

TEST(RendezvousHello, PassedOnRightAfterTheIntroductionItBelongsTo) {
  RvHarness h;
  auto r = registerTwo(h);
  auto hello = firstPacket("alice");
  h.send(*r.alice, [&](RvTestPeer& p, auto& s) {
    p.sendControl(protocol::HelloViaMsg{"bob", hello}, s);
    p.sendLookup(5, "bob", s);
  });
  const auto& inbox = r.bob->peer->inbox;
  ASSERT_GE(inbox.size(), 2u);
  const auto* intro = std::get_if<protocol::IntroduceMsg>(&inbox[inbox.size() - 2]);
  const auto* from = std::get_if<protocol::HelloFromMsg>(&inbox.back());
  ASSERT_TRUE(intro && from);
  EXPECT_EQ(from->intro_id, intro->intro_id);
  EXPECT_EQ(from->peer_name, "alice");
  EXPECT_EQ(from->hello, hello);
  EXPECT_EQ(countOf(r.alice->peer->inbox, kHelloFromIndex), 0u);  // never back to its sender

  // bob's own lookup a moment later (he re-registered elsewhere, or looks alice up himself)
  // introduces them again: he gets it again, with that introduction's id.
  h.run(seconds(1));
  h.send(*r.bob, [](RvTestPeer& p, auto& s) { p.sendLookup(6, "alice", s); });
  const auto* intro2 = lastOf<protocol::IntroduceMsg>(inbox);
  from = std::get_if<protocol::HelloFromMsg>(&inbox.back());
  ASSERT_TRUE(intro2 && from);
  EXPECT_EQ(intro2->request_id, 6u);
  EXPECT_EQ(from->intro_id, intro2->intro_id);
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.hellos_passed, 2u);

  // After kHelloFresh (2 s) it is gone.
  h.run(seconds(2));
  h.send(*r.bob, [](RvTestPeer& p, auto& s) { p.sendLookup(7, "alice", s); });
  EXPECT_EQ(lastOf<protocol::IntroduceMsg>(inbox)->request_id, 7u);
  EXPECT_EQ(countOf(inbox, kHelloFromIndex), 2u);
}

TEST(RendezvousHello, OnlyTheNewestOneForTheNamedPeerIsPassedOn) {
  RvHarness h;
  auto r = registerTwo(h);
  auto& carol = h.addPeer("carol", {"10.42.0.3/24"}, *Endpoint::parse("203.0.113.3:5000"));
  h.start(carol);
  h.send(carol, [](RvTestPeer& p, auto& s) { p.sendRegister({}, s); });
  auto first = firstPacket("alice");
  auto second = firstPacket("alice", 0, 1);
  second.back() ^= 1;
  h.send(*r.alice, [&](RvTestPeer& p, auto& s) {
    p.sendControl(protocol::HelloViaMsg{"bob", first}, s);
    p.sendControl(protocol::HelloViaMsg{"carol", second}, s);
    p.sendLookup(1, "bob", s);  // the hello now is for carol
  });
  EXPECT_EQ(countOf(r.bob->peer->inbox, kHelloFromIndex), 0u);
  h.send(*r.alice, [](RvTestPeer& p, auto& s) { p.sendLookup(2, "carol", s); });
  const auto* from = lastOf<protocol::HelloFromMsg>(carol.peer->inbox);
  ASSERT_NE(from, nullptr);
  EXPECT_EQ(from->hello, second);
}

// Not a client's first packet in the sender's own name, or meant for the sender itself: dropped
// as unexpected and never passed on.
TEST(RendezvousHello, WhatIsNotAFirstPacketInTheSendersNameIsNotKept) {
  RvHarness h;
  auto r = registerTwo(h);
  std::vector<protocol::HelloViaMsg> bad = {
      {"bob", firstPacket("mallory")},                       // someone else's name
      {"bob", firstPacket("alice", protocol::kFlagKick)},    // a kick
      {"bob", firstPacket("alice", 0, 2)},                   // not the first packet
      {"alice", firstPacket("alice")},                       // for itself
      {"bob", {0x41, 0x03, 0x00}},                           // not a handshake packet
  };
  auto before = h.engine->status(h.clock.now());
  auto unexpected = [](const rendezvous::RendezvousStatus& st) {
    for (const auto& [reason, n] : st.drops) {
      if (reason == "unexpected_message") {
        return n;
      }
    }
    return std::uint64_t{0};
  };
  for (const auto& m : bad) {
    h.send(*r.alice, [&](RvTestPeer& p, auto& s) {
      p.sendControl(m, s);
      p.sendLookup(3, "bob", s);
    });
  }
  EXPECT_EQ(countOf(r.bob->peer->inbox, kHelloFromIndex), 0u);
  auto after = h.engine->status(h.clock.now());
  EXPECT_EQ(unexpected(after) - unexpected(before), bad.size());
  EXPECT_EQ(after.counters.hellos_passed, 0u);
}

}  // namespace
}  // namespace vpn::test
