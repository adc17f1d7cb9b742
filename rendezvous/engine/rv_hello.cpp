// HELLO_VIA and HELLO_FROM (protocol/rendezvous_messages.hpp): a peer hands us the first
// handshake packet of its attempt with another peer just before the LOOKUP that asks for the
// introduction. Whenever we introduce the two while it is fresh (that lookup, the other peer's
// own lookup, or a later one after the other re-registered from a new port), the other gets it
// right after its INTRODUCE and answers at once, half a round trip sooner than the copy the
// sender aims at it after its own INTRODUCE. The receiver answers at the sender's reflexive
// endpoint, which we saw in its authenticated session: that is why it may skip the cookie. We
// check only that the packet is a first one in the sender's certified name.
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {

void RendezvousEngine::Impl::onHelloVia(Instant now, PeerRecord& r, protocol::HelloViaMsg& m) {
  // A first packet of a TLS client in the sender's own name, and for someone else: anything else
  // would only be refused by the receiver, so it is not kept.
  auto p = protocol::parseHandshake(m.hello);
  if (!p || !p->hasHello() || p->isKick() || !p->hasPayload() || p->packet_id != 1 ||
      p->receiver_index != 0 || p->name != r.name || m.peer_name == r.name) {
    drop(Drop::kUnexpectedMessage);
    return;
  }
  if (!r.via_hello) {
    r.via_hello = std::make_unique<PeerRecord::ViaHello>();
  }
  r.via_hello->to = std::move(m.peer_name);
  r.via_hello->bytes = std::move(m.hello);
  r.via_hello->at = now;
}

void RendezvousEngine::Impl::passHello(Instant now, PeerRecord& from, PeerRecord& to,
                                       std::uint64_t intro_id) {
  if (!from.via_hello || from.via_hello->to != to.name) {
    return;
  }
  if (now - from.via_hello->at > kHelloFresh) {
    from.via_hello.reset();
    return;
  }
  // Kept after it is passed on: a later introduction of the two (the other peer re-registered
  // from a new port) needs it again.
  if (sendControl(to, protocol::HelloFromMsg{intro_id, from.name, from.via_hello->bytes})) {
    counters.hellos_passed++;
  }
}

}  // namespace vpn::rendezvous
