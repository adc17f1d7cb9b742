// Relaying through the rendezvous engine: RELAY_REQUEST offers one channel for a pair, which goes
// live when both sides asked; relay packets go through byte for byte, only from a session's
// current path, only on its live channels and only with a peer-to-peer inner packet (a HELLO
// naming its sender); channels die with their records; sessions over TCP (SocketRole::kTcp)
// register, relay and lose their connection. The limits are in rendezvous_relay_limits_test.cpp.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/rendezvous/relay_helpers.hpp"

namespace vpn::test {
namespace {

using namespace relay;  // NOLINT: the helpers of these tests (and their protocol names)

// Finding 5: any registered peer could bind a channel to any other, and the server forwarded even
// when the target never wanted it. Now a request is an offer to the target, and the channel
// forwards only once the target asks too.
TEST(RendezvousRelay, AChannelForwardsOnlyWhenBothSidesAsked) {
  RvHarness h;
  auto& alice = addRegistered(h, "alice", "198.51.100.7:40001");
  auto& bob = addRegistered(h, "bob", "192.0.2.9:61000");
  h.send(alice, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(11, "bob", s); });
  EXPECT_EQ(lastOf<RelayBoundMsg>(alice.peer->inbox), nullptr);  // not yet
  const auto* offer = lastOf<RelayBoundMsg>(bob.peer->inbox);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->request_id, 0u);
  EXPECT_EQ(offer->peer_name, "alice");
  std::uint16_t channel = offer->channel;
  // alice sends anyway: nothing reaches bob.
  h.sendRaw(alice, relayPacket(channel, protocol::kTypeData, 100));
  EXPECT_EQ(h.dropCount("relay_no_consent"), 1u);
  EXPECT_TRUE(bob.relayed.empty());
  auto st = h.engine->status(h.clock.now());
  EXPECT_EQ(st.counters.relay_binds, 0u);
  EXPECT_EQ(st.counters.relay_offers, 1u);
  // bob consents: both are told, with their own request ids, and packets flow.
  h.send(bob, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(21, "alice", s); });
  const auto* to_alice = lastOf<RelayBoundMsg>(alice.peer->inbox);
  const auto* to_bob = lastOf<RelayBoundMsg>(bob.peer->inbox);
  ASSERT_NE(to_alice, nullptr);
  EXPECT_EQ(to_alice->request_id, 11u);
  EXPECT_EQ(to_bob->request_id, 21u);
  EXPECT_EQ(to_alice->channel, channel);
  EXPECT_EQ(to_bob->channel, channel);
  EXPECT_EQ(to_alice->peer_name, "bob");
  h.sendRaw(alice, relayPacket(channel, protocol::kTypeData, 100));
  EXPECT_EQ(bob.relayed.size(), 1u);

  // Asking again, from either side, gives the same channel and binds nothing new.
  h.send(bob, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(12, "alice", s); });
  const auto* again = lastOf<RelayBoundMsg>(bob.peer->inbox);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->request_id, 12u);
  EXPECT_EQ(again->channel, channel);
  EXPECT_EQ(lastOf<RelayBoundMsg>(alice.peer->inbox)->request_id, 11u);
  st = h.engine->status(h.clock.now());
  EXPECT_EQ(st.counters.relay_binds, 1u);
  EXPECT_EQ(st.counters.relay_failures, 0u);
  EXPECT_EQ(peerStatus(st, "alice")->relay_channels, 1u);
  EXPECT_EQ(peerStatus(st, "bob")->relay_channels, 1u);
}

TEST(RendezvousRelay, PacketsGoThroughBothWaysByteExact) {
  RvHarness h;
  auto p = boundPair(h);
  ASSERT_NE(p.channel, 0);
  auto a2b = relayPacket(p.channel, protocol::kTypeData, 1400, 7);
  auto b2a = relayedHello(p.channel, "bob");
  auto ka = relayPacket(p.channel, protocol::kTypeKeepalive | 1, 29, 3);
  h.sendRaw(*p.alice, a2b);
  h.sendRaw(*p.bob, b2a);
  h.sendRaw(*p.alice, ka);
  ASSERT_EQ(p.bob->relayed.size(), 2u);
  EXPECT_EQ(p.bob->relayed[0], a2b);
  EXPECT_EQ(p.bob->relayed[1], ka);
  ASSERT_EQ(p.alice->relayed.size(), 1u);
  EXPECT_EQ(p.alice->relayed[0], b2a);
  EXPECT_EQ(p.bob->arrived_from.back(), SocketId{});

  auto st = h.engine->status(h.clock.now());
  EXPECT_EQ(st.counters.relayed_packets, 3u);
  EXPECT_EQ(st.counters.relayed_bytes, a2b.size() + b2a.size() + ka.size());
  EXPECT_EQ(peerStatus(st, "alice")->relayed_bytes, a2b.size() + ka.size());
  EXPECT_EQ(peerStatus(st, "bob")->relayed_bytes, b2a.size());
  EXPECT_TRUE(st.drops.empty());
}

TEST(RendezvousRelay, UnknownChannelSenderAndSpoofedSourceAreDropped) {
  RvHarness h;
  auto p = boundPair(h);
  std::uint16_t other = p.channel == 0xFFFF ? std::uint16_t{1}
                                            : static_cast<std::uint16_t>(p.channel + 1);
  h.sendRaw(*p.alice, relayPacket(other, protocol::kTypeData, 100));
  EXPECT_EQ(h.dropCount("relay_unknown_channel"), 1u);

  // A stranger, and alice's address with another port: not a session's current path.
  inject(h, {}, ep("203.0.113.50:999"), relayPacket(p.channel, protocol::kTypeData, 100));
  inject(h, {}, ep("198.51.100.7:40002"), relayPacket(p.channel, protocol::kTypeData, 100));
  // alice's exact endpoint, but arriving on another listen socket.
  inject(h, SocketId{SocketRole::kPrimary, 1, 0}, p.alice->observed,
         relayPacket(p.channel, protocol::kTypeData, 100));
  // ... or on an alternate (STUN-only) socket.
  inject(h, SocketId{SocketRole::kAltPort, 0, 0}, p.alice->observed,
         relayPacket(p.channel, protocol::kTypeData, 100));
  EXPECT_EQ(h.dropCount("relay_unknown_sender"), 3u);
  EXPECT_EQ(h.dropCount("unknown_family"), 1u);
  h.pump();
  EXPECT_TRUE(p.bob->relayed.empty());

  // Malformed headers: too short, channel 0, a reserved relay type.
  h.sendRaw(*p.alice, {protocol::kTypeRelay, 0x01});
  h.sendRaw(*p.alice, relayPacket(0, protocol::kTypeData, 10));
  auto reserved = relayPacket(p.channel, protocol::kTypeData, 10);
  reserved[0] = 0x79;
  h.sendRaw(*p.alice, reserved);
  EXPECT_EQ(h.dropCount("malformed"), 3u);
  EXPECT_TRUE(p.bob->relayed.empty());
}

TEST(RendezvousRelay, RoamingSenderIsFollowedAndItsOldPathRefused) {
  RvHarness h;
  auto p = boundPair(h);
  Endpoint old_path = p.alice->observed;
  p.alice->observed = ep("198.51.100.7:45555");  // NAT rebinding
  // Relay packets are not authenticated: they do not move the session.
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 50));
  EXPECT_EQ(h.dropCount("relay_unknown_sender"), 1u);
  // An authenticated packet does.
  h.send(*p.alice, [](RvTestPeer& peer, auto& s) { peer.sendProbe(1, s); });
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 50));
  EXPECT_EQ(p.bob->relayed.size(), 1u);
  inject(h, {}, old_path, relayPacket(p.channel, protocol::kTypeData, 50));
  EXPECT_EQ(h.dropCount("relay_unknown_sender"), 2u);
  // And bob's relay packets now reach alice's new endpoint.
  h.sendRaw(*p.bob, relayPacket(p.channel, protocol::kTypeData, 50));
  ASSERT_EQ(p.alice->relayed.size(), 1u);
}

TEST(RendezvousRelay, InnerMustBeAPeerToPeerPacket) {
  RvHarness h;
  auto p = boundPair(h);
  for (std::uint8_t first : {std::uint8_t{0x60}, std::uint8_t{0x61}, protocol::kTypeProbe,
                             protocol::kTypeRelay, std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
    h.sendRaw(*p.alice, relayPacket(p.channel, first, 40));
  }
  h.sendRaw(*p.alice, relayPacket(p.channel, 0, 0));  // no inner datagram at all
  EXPECT_EQ(h.dropCount("relay_bad_inner"), 7u);
  EXPECT_TRUE(p.bob->relayed.empty());
}

// Finding 2 over the relay: a member must not open a handshake in another member's name. The
// relay checks a HELLO's name against the sender's certificate, and drops handshake packets that
// do not parse.
TEST(RendezvousRelay, RelayedHelloMustNameItsSender) {
  RvHarness h;
  auto p = boundPair(h);
  h.sendRaw(*p.alice, relayedHello(p.channel, "carol"));
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeHandshake, 40));
  EXPECT_EQ(h.dropCount("relay_name_mismatch"), 2u);
  EXPECT_TRUE(p.bob->relayed.empty());
  h.sendRaw(*p.alice, relayedHello(p.channel, "alice"));
  EXPECT_EQ(p.bob->relayed.size(), 1u);
}

TEST(RendezvousRelay, DisabledRelayRefusesRequestsAndPackets) {
  rendezvous::RendezvousOptions o;
  o.relay = false;
  RvHarness h(o);
  auto& alice = addRegistered(h, "alice", "198.51.100.7:40001");
  auto& bob = addRegistered(h, "bob", "192.0.2.9:61000");
  h.send(alice, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(5, "bob", s); });
  const auto* f = lastOf<RelayFailedMsg>(alice.peer->inbox);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->request_id, 5u);
  EXPECT_EQ(f->reason, RelayFailure::kDisabled);
  EXPECT_EQ(f->peer_name, "bob");
  EXPECT_EQ(lastOf<RelayBoundMsg>(bob.peer->inbox), nullptr);
  h.sendRaw(alice, relayPacket(1, protocol::kTypeData, 40));
  EXPECT_EQ(h.dropCount("relay_disabled"), 1u);
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.relay_failures, 1u);
}

TEST(RendezvousRelay, RequestsForUnknownSelfOrFullTablesFail) {
  rendezvous::RendezvousOptions o;
  o.relay_max_channels = 1;
  RvHarness h(o);
  auto p = boundPair(h);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");
  auto& dave = h.addPeer("dave", {}, ep("203.0.113.78:5000"));
  h.start(dave);  // a session, never registered

  auto ask = [&](RvHarness::Node& n, std::uint32_t id, const char* peer) {
    h.send(n, [&](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(id, peer, s); });
    const auto* f = lastOf<RelayFailedMsg>(n.peer->inbox);
    return f != nullptr && f->request_id == id ? std::optional<RelayFailure>(f->reason)
                                               : std::nullopt;
  };
  EXPECT_EQ(ask(carol, 1, "zed"), RelayFailure::kNotRegistered);
  EXPECT_EQ(ask(carol, 2, "dave"), RelayFailure::kNotRegistered);
  EXPECT_EQ(ask(carol, 3, "carol"), RelayFailure::kNotAllowed);
  EXPECT_EQ(ask(carol, 4, "alice"), RelayFailure::kChannelLimit);  // alice's table is full
  EXPECT_EQ(ask(*p.alice, 5, "carol"), RelayFailure::kChannelLimit);
  // The bound pair is still served.
  EXPECT_EQ(ask(*p.alice, 6, "bob"), std::nullopt);
  EXPECT_EQ(lastOf<RelayBoundMsg>(p.alice->peer->inbox)->channel, p.channel);
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.relay_failures, 5u);
}

TEST(RendezvousRelay, ExpiryAndRestartRemoveChannels) {
  rendezvous::RendezvousOptions o;
  o.refresh = seconds(10);
  RvHarness h(o);
  auto p = boundPair(h);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(1, "alice", s); });
  h.send(*p.alice, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(2, "carol", s); });
  std::uint16_t carol_channel = lastOf<RelayBoundMsg>(carol.peer->inbox)->channel;
  EXPECT_NE(carol_channel, p.channel);
  EXPECT_EQ(peerStatus(h.engine->status(h.clock.now()), "alice")->relay_channels, 2u);

  // bob goes silent and expires; alice and carol keep talking.
  for (int i = 0; i < 4; ++i) {
    h.run(seconds(9));
    h.send(*p.alice, [&](RvTestPeer& pr, auto& s) { pr.sendProbe(static_cast<unsigned>(i), s); });
    h.send(carol, [&](RvTestPeer& pr, auto& s) { pr.sendProbe(static_cast<unsigned>(i), s); });
  }
  auto st = h.engine->status(h.clock.now());
  EXPECT_EQ(st.counters.expired, 1u);
  EXPECT_EQ(peerStatus(st, "bob"), nullptr);
  EXPECT_EQ(peerStatus(st, "alice")->relay_channels, 1u);
  h.sendRaw(*p.alice, relayPacket(p.channel, protocol::kTypeData, 40));
  EXPECT_EQ(h.dropCount("relay_unknown_channel"), 1u);

  // carol restarts (a new session under her name): alice's channel to her goes too.
  h.start(carol);
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRegister({}, s); });
  EXPECT_EQ(peerStatus(h.engine->status(h.clock.now()), "alice")->relay_channels, 0u);
  h.sendRaw(*p.alice, relayPacket(carol_channel, protocol::kTypeData, 40));
  EXPECT_EQ(h.dropCount("relay_unknown_channel"), 2u);
  EXPECT_TRUE(carol.relayed.empty());
}

TEST(RendezvousRelay, IntroductionsCarryTheAnnouncedNatTypes) {
  RvHarness h;
  auto& alice = addRegistered(h, "alice", "198.51.100.7:40001", {local("192.168.1.7:51820")},
                              protocol::NatType::kSymmetric);
  auto& bob = addRegistered(h, "bob", "192.0.2.9:61000", {}, protocol::NatType::kFullCone);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000");  // announces no NAT type
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendLookup(1, "bob", s); });
  EXPECT_EQ(lastOf<protocol::IntroduceMsg>(alice.peer->inbox)->peer_nat_type,
            protocol::NatType::kFullCone);
  EXPECT_EQ(lastOf<protocol::IntroduceMsg>(bob.peer->inbox)->peer_nat_type,
            protocol::NatType::kSymmetric);
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendLookup(2, "carol", s); });
  EXPECT_EQ(lastOf<protocol::IntroduceMsg>(alice.peer->inbox)->peer_nat_type,
            protocol::NatType::kUnknown);
  EXPECT_EQ(lastOf<protocol::IntroduceMsg>(carol.peer->inbox)->peer_nat_type,
            protocol::NatType::kSymmetric);
  auto st = h.engine->status(h.clock.now());
  EXPECT_EQ(peerStatus(st, "alice")->nat_type, protocol::NatType::kSymmetric);
  EXPECT_EQ(peerStatus(st, "bob")->nat_type, protocol::NatType::kFullCone);
}

TEST(RendezvousRelay, SessionOverTcpRegistersRelaysAndLosesItsConnection) {
  RvHarness h;
  auto& alice = addRegistered(h, "alice", "198.51.100.7:40001", {local("192.168.1.7:51820")});
  const SocketId conn7{SocketRole::kTcp, 0, 7};
  Candidate tcp_cand{CandidateKind::kTcp, ep("198.51.100.30:443")};
  auto& carol = addRegistered(h, "carol", "198.51.100.30:50123",
                              {local("10.9.0.2:51820"), tcp_cand}, protocol::NatType::kUdpBlocked,
                              conn7);
  // Everything carol got came on her connection.
  ASSERT_FALSE(carol.arrived_from.empty());
  for (const auto& s : carol.arrived_from) {
    EXPECT_EQ(s, conn7);
  }
  EXPECT_EQ(lastOf<protocol::RegisteredMsg>(carol.peer->inbox)->reflexive, carol.observed);

  // An introduction to carol has her local and tcp candidates, but not her TCP source port.
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendLookup(1, "carol", s); });
  const auto* intro = lastOf<protocol::IntroduceMsg>(alice.peer->inbox);
  ASSERT_NE(intro, nullptr);
  std::vector<Candidate> want = {local("10.9.0.2:51820"), tcp_cand};
  EXPECT_EQ(intro->candidates, want);
  // carol hears of alice's reflexive endpoint as usual.
  const auto* to_carol = lastOf<protocol::IntroduceMsg>(carol.peer->inbox);
  ASSERT_NE(to_carol, nullptr);
  EXPECT_EQ(to_carol->candidates.back(),
            (Candidate{CandidateKind::kReflexive, alice.observed}));

  // A relay between a UDP and a TCP session, both ways.
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(3, "alice", s); });
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(6, "carol", s); });
  std::uint16_t ch = lastOf<RelayBoundMsg>(carol.peer->inbox)->channel;
  ASSERT_EQ(lastOf<RelayBoundMsg>(alice.peer->inbox)->channel, ch);
  auto c2a = relayPacket(ch, protocol::kTypeData, 500, 1);
  auto a2c = relayPacket(ch, protocol::kTypeData, 600, 2);
  h.sendRaw(carol, c2a);
  h.sendRaw(alice, a2c);
  ASSERT_EQ(alice.relayed.size(), 1u);
  EXPECT_EQ(alice.relayed[0], c2a);
  ASSERT_EQ(carol.relayed.size(), 1u);
  EXPECT_EQ(carol.relayed[0], a2c);
  EXPECT_EQ(carol.arrived_from.back(), conn7);
  // The same source endpoint on another connection is not carol.
  h.engine->onDatagram(h.clock.now(), SocketId{SocketRole::kTcp, 0, 8}, carol.observed, c2a);
  EXPECT_EQ(h.dropCount("relay_unknown_sender"), 1u);

  auto st = h.engine->status(h.clock.now());
  EXPECT_TRUE(peerStatus(st, "carol")->tcp);
  EXPECT_FALSE(peerStatus(st, "carol")->unreachable);
  EXPECT_FALSE(peerStatus(st, "alice")->tcp);

  // The connection closes: carol is not sent to, not introduced, not relayed to.
  h.closeConnection(carol);
  h.sendRaw(alice, a2c);
  EXPECT_EQ(carol.relayed.size(), 1u);
  EXPECT_EQ(h.dropCount("peer_unreachable"), 1u);
  EXPECT_EQ(h.sent_on_closed, 0u);  // the engine itself held back
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendLookup(4, "carol", s); });
  EXPECT_EQ(lastOf<protocol::LookupFailedMsg>(alice.peer->inbox)->reason,
            protocol::LookupFailure::kNotRegistered);
  h.send(alice, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(5, "carol", s); });
  EXPECT_EQ(lastOf<RelayFailedMsg>(alice.peer->inbox)->reason, RelayFailure::kNotRegistered);
  st = h.engine->status(h.clock.now());
  EXPECT_TRUE(peerStatus(st, "carol")->unreachable);
  EXPECT_EQ(st.sessions, 2u);  // the record stays until it expires or carol comes back

  // carol comes back over UDP with the same session: the record moves, the channel works again.
  carol.socket = SocketId{};
  carol.observed = ep("198.51.100.30:40999");
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendProbe(42, s); });
  ASSERT_FALSE(carol.peer->probe_replies.empty());
  EXPECT_EQ(carol.peer->probe_replies.back(), 42u);
  h.sendRaw(alice, a2c);
  ASSERT_EQ(carol.relayed.size(), 2u);
  EXPECT_EQ(carol.arrived_from.back(), SocketId{});
  st = h.engine->status(h.clock.now());
  EXPECT_FALSE(peerStatus(st, "carol")->tcp);
  EXPECT_FALSE(peerStatus(st, "carol")->unreachable);
  // Closing the old connection id again changes nothing.
  h.engine->onConnectionClosed(h.clock.now(), 7);
  h.sendRaw(alice, a2c);
  EXPECT_EQ(carol.relayed.size(), 3u);
}

TEST(RendezvousRelay, HandshakeOverTcpDiesWithItsConnection) {
  RvHarness h;
  auto& carol = h.addPeer("carol", {}, ep("198.51.100.30:50123"));
  carol.socket = SocketId{SocketRole::kTcp, 0, 9};
  RvHarness::NodeSink s(h, carol);
  carol.peer->start(h.clock.now(), s);
  for (auto& d : h.to_engine) {
    h.engine->onDatagram(h.clock.now(), carol.socket, carol.observed, d.second);
  }
  h.to_engine.clear();
  EXPECT_EQ(h.engine->status(h.clock.now()).pending_handshakes, 1u);
  h.engine->onConnectionClosed(h.clock.now(), 9);
  EXPECT_EQ(h.engine->status(h.clock.now()).pending_handshakes, 0u);
}

TEST(RendezvousRelay, RandomRelayPacketsNeverCrashOrLeak) {
  RvHarness h;
  auto p = boundPair(h);
  auto& carol = addRegistered(h, "carol", "203.0.113.77:5000", {}, protocol::NatType::kUnknown,
                              SocketId{SocketRole::kTcp, 1, 3});
  h.send(carol, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(1, "bob", s); });
  h.send(*p.bob, [](RvTestPeer& pr, auto& s) { pr.sendRelayRequest(2, "carol", s); });
  std::mt19937 rng(4242);
  const Endpoint sources[] = {p.alice->observed, p.bob->observed, carol.observed,
                              ep("203.0.113.99:1")};
  const SocketId sockets[] = {SocketId{}, SocketId{SocketRole::kTcp, 1, 3},
                              SocketId{SocketRole::kPrimary, 1, 0}};
  std::size_t forwarded_before = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> d(rng() % 80);
    for (auto& b : d) {
      b = static_cast<std::uint8_t>(rng());
    }
    if (d.size() >= 3) {
      d[0] = static_cast<std::uint8_t>(0x78 + rng() % 2);
      if (rng() % 2 == 0) {
        d[1] = static_cast<std::uint8_t>(p.channel >> 8);
        d[2] = static_cast<std::uint8_t>(p.channel);
      }
    }
    h.engine->onDatagram(h.clock.now(), sockets[rng() % 3], sources[rng() % 4], d);
    if (i % 500 == 0) {
      forwarded_before += h.sink.sent.size();
      h.sink.sent.clear();
      h.clock.advance(milliseconds(10));
    }
  }
  h.sink.sent.clear();
  EXPECT_GT(forwarded_before, 0u);
  // Still relaying for real.
  p.bob->relayed.clear();
  auto real = relayPacket(p.channel, protocol::kTypeData, 100);
  h.sendRaw(*p.alice, real);
  ASSERT_EQ(p.bob->relayed.size(), 1u);
  EXPECT_EQ(p.bob->relayed[0], real);
}

}  // namespace
}  // namespace vpn::test
