#include "tests/unit/rendezvous/relay_helpers.hpp"

namespace vpn::test::relay {

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}

Candidate local(const char* text) {
  return Candidate{CandidateKind::kLocal, ep(text)};
}

std::vector<std::uint8_t> relayPacket(std::uint16_t channel, std::uint8_t first,
                                      std::size_t inner_size, std::uint8_t fill) {
  std::vector<std::uint8_t> p(protocol::kRelayHeaderSize + inner_size);
  protocol::writeRelayHeader(channel, p);
  auto inner = std::span(p).subspan(protocol::kRelayHeaderSize);
  for (std::size_t i = 0; i < inner.size(); ++i) {
    inner[i] = static_cast<std::uint8_t>(fill + i);
  }
  if (!inner.empty()) {
    inner[0] = first;
  }
  return p;
}

std::vector<std::uint8_t> relayedHello(std::uint16_t channel, const char* name) {
  const std::uint8_t payload[] = {0x16, 0x03, 0x01};
  protocol::HandshakePacket hs;
  hs.flags = protocol::kFlagHello | protocol::kFlagPayload | protocol::kFlagPadded;
  hs.wire_size = protocol::kMinInitialPacket;
  hs.sender_index = 5;
  hs.packet_id = 1;
  hs.name = name;
  hs.payload = payload;
  std::vector<std::uint8_t> p(protocol::kRelayHeaderSize + protocol::kMaxHandshakePacket);
  protocol::writeRelayHeader(channel, p);
  std::size_t n = protocol::serializeHandshake(
      hs, {}, std::span(p).subspan(protocol::kRelayHeaderSize));
  p.resize(protocol::kRelayHeaderSize + n);
  return p;
}

void inject(RvHarness& h, SocketId on, const Endpoint& from, std::vector<std::uint8_t> bytes) {
  h.engine->onDatagram(h.clock.now(), on, from, bytes);
}

RvHarness::Node& addRegistered(RvHarness& h, const std::string& name,
                                      const char* observed, std::vector<Candidate> cands,
                                      protocol::NatType nat,
                                      SocketId socket) {
  auto& n = h.addPeer(name, {}, ep(observed));
  n.socket = socket;
  h.start(n);
  EXPECT_TRUE(n.peer->established()) << name;
  h.send(n, [&](RvTestPeer& p, auto& s) { p.sendRegister(cands, s, nat); });
  EXPECT_NE(lastOf<protocol::RegisteredMsg>(n.peer->inbox), nullptr) << name;
  return n;
}


// alice and bob registered over UDP and joined by a channel alice asked for and bob consented to
// (he asked too, after the server's offer).
Pair boundPair(RvHarness& h) {
  Pair p;
  p.alice = &addRegistered(h, "alice", "198.51.100.7:40001");
  p.bob = &addRegistered(h, "bob", "192.0.2.9:61000");
  h.send(*p.alice, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(11, "bob", s); });
  h.send(*p.bob, [](RvTestPeer& peer, auto& s) { peer.sendRelayRequest(21, "alice", s); });
  const auto* b = lastOf<RelayBoundMsg>(p.alice->peer->inbox);
  EXPECT_NE(b, nullptr);
  if (b != nullptr) {
    p.channel = b->channel;
  }
  return p;
}

const rendezvous::RegisteredPeerStatus* peerStatus(
    const rendezvous::RendezvousStatus& st, const std::string& name) {
  for (const auto& p : st.peers) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace vpn::test::relay
