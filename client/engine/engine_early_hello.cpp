// The TLS client's ClientHello, sent before any path is known to work (docs/paths.md rule 1):
// with the first probes of a punch to the peer's best public candidate (the early hello), and
// before that through the rendezvous (HELLO_VIA and HELLO_FROM in
// protocol/rendezvous_messages.hpp).
//
// Both peers get an introduction at the same instant and probe each other's public candidates,
// so each NAT has a mapping toward the other by the time the early hello arrives there. A later
// introduction in the same punch re-aims an early hello that has heard nothing.
//
// As TLS client we start the attempt when we send the LOOKUP, before the introduction says where
// the peer is, and give its ClientHello to the rendezvous, which passes it to the peer right
// after the INTRODUCE. The peer answers at our reflexive endpoint at once, while our own copy is
// still to be sent: half a round trip sooner. Until the introduction (or the peer's answer)
// shows where the peer is, the attempt is "unaimed": its packets go nowhere. Then the same
// ClientHello goes to the peer directly too, as the early hello always did: it covers a lost
// HELLO_FROM and a rendezvous from before HELLO_VIA, and a duplicate costs the peer one ack.
//
// As TLS server, a HELLO_FROM starts our attempt toward the public candidate of the introduction
// it came with, without a cookie: the rendezvous saw the client there in its authenticated
// session. Where a NAT maps per destination, that is not where the client's packets to us come
// from; so the attempt follows the first of its packets that arrives directly, or the first
// punched path that works, once. Our answer may meet the client's NAT just before the client's
// first packet to us opens it: the client then repeats that packet (engine.cpp, via_poke_at),
// and a second direct copy makes us resend (engine_handshake.cpp).
#include <algorithm>
#include <array>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

// Keeps the first datagram a handshake flushes, and ignores the rest.
class FirstDatagram final : public session::DatagramSink {
 public:
  void sendDatagram(const protocol::Endpoint& /*to*/,
                    std::span<const std::uint8_t> bytes) override {
    if (count_++ == 0) {
      bytes_.assign(bytes.begin(), bytes.end());
    }
  }
  std::size_t count() const { return count_; }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::size_t count_ = 0;
  std::vector<std::uint8_t> bytes_;
};

// The HELLO packet without its padding (padding answers amplification on an unproven path; the
// rendezvous' session is not one), or empty if it is not a lone first packet that fits.
std::vector<std::uint8_t> unpaddedHello(const FirstDatagram& first) {
  if (first.count() != 1) {
    return {};  // a ClientHello in two packets: only the direct copies carry it
  }
  auto p = protocol::parseHandshake(first.bytes());
  if (!p || !p->hasHello() || !p->hasPayload() || p->ackCount() != 0) {
    return {};
  }
  protocol::HandshakePacket q = *p;
  q.flags = static_cast<std::uint8_t>(q.flags & ~protocol::kFlagPadded);
  q.wire_size = 0;
  std::array<std::uint8_t, protocol::kMaxHandshakePacket> buf{};
  std::size_t n = protocol::serializeHandshake(q, {}, buf);
  if (n == 0 || n > protocol::kMaxViaHello) {
    return {};
  }
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
}

}  // namespace

const PunchCandidate* Engine::Impl::firstPublicCandidate(const PeerState& peer) const {
  // Local ones are left out: on a shared LAN their probe answers first and the handshake moves
  // there anyway.
  auto it = std::find_if(peer.candidates.begin(), peer.candidates.end(),
                         [](const PunchCandidate& c) {
                           return c.kind == PunchCandidate::Kind::kStatic ||
                                  c.kind == PunchCandidate::Kind::kMapped ||
                                  c.kind == PunchCandidate::Kind::kReflexive;
                         });
  return it == peer.candidates.end() ? nullptr : &*it;
}

void Engine::Impl::startEarlyHello(PeerState& peer, Instant now) {
  if (!peer.we_are_client || peer.session || !options.early_hello ||
      (peer.pending && !peer.pending_unaimed)) {
    return;
  }
  // Both peers get the introduction at once and probe each other's public candidates, so each
  // NAT has a mapping toward the other by the time our ClientHello arrives there.
  const PunchCandidate* c = firstPublicCandidate(peer);
  if (c == nullptr) {
    return;
  }
  if (peer.pending_unaimed) {
    // Started with our LOOKUP (its hello went through the rendezvous): now it has a place.
    aimPending(peer, c->path());
    peer.pending->retransmitNow(now);
    servePending(peer, now);
    return;
  }
  if (Handshake* hs = initiate(peer, now, c->path(), 0); hs != nullptr) {
    peer.early_hello = hs->localIndex();
  }
}

// A later introduction in the same punch names where the peer registered last: a peer that
// restarted on a new port is introduced first from its old registration (still held by the
// rendezvous) when our lookup arrives just before its new one. Our early ClientHello, which has
// heard nothing yet, goes to the newest public candidate instead of waiting for the probes.
void Engine::Impl::reaimEarlyHello(PeerState& peer, Instant now,
                                   const std::vector<protocol::Candidate>& introduced) {
  if (!peer.pending || peer.early_hello != peer.pending->localIndex() ||
      peer.pending->receivedAnything() || peer.pending->remoteIndex() != 0) {
    return;
  }
  std::optional<Path> to = introducedPublicPath(peer, introduced);
  if (!to || *to == peer.pending_path) {
    return;
  }
  aimPending(peer, *to);
  peer.pending->retransmitNow(now);
  servePending(peer, now);
}

std::optional<Path> Engine::Impl::introducedPublicPath(
    const PeerState& peer, const std::vector<protocol::Candidate>& introduced) const {
  for (const auto& c : introduced) {
    if (c.kind != protocol::CandidateKind::kReflexive && c.kind != protocol::CandidateKind::kMapped) {
      continue;
    }
    Path to = Path::udp(c.endpoint);
    if (std::any_of(peer.candidates.begin(), peer.candidates.end(),
                    [&](const PunchCandidate& pc) { return pc.path() == to; })) {
      return to;
    }
  }
  return std::nullopt;
}

void Engine::Impl::prepareHelloVia(PeerState& peer, Instant now) {
  if (!peer.we_are_client || peer.session || !options.early_hello ||
      !options.hello_via_rendezvous) {
    return;
  }
  if (!peer.pending) {
    if (createPending(peer, now, Path{}, 0, Admission::kOurs, 0) == nullptr) {
      return;
    }
    peer.pending_unaimed = true;
    // Its failure to hear anything is the punch's business, as for any early hello.
    peer.early_hello = peer.pending->localIndex();
    FirstDatagram first;
    peer.pending->flush(now, first);
    peer.via_hello = unpaddedHello(first);
    if (!peer.via_hello.empty()) {
      peer.via_first = first.bytes();
    }
  }
  if (!peer.pending_unaimed || peer.via_hello.empty()) {
    return;
  }
  // Again with each LOOKUP while unaimed: the rendezvous keeps it only a few seconds.
  protocol::HelloViaMsg msg{peer.name, peer.via_hello};
  for (auto& rv : rendezvous) {
    if (rv->session) {
      sendControl(*rv, now, msg);
    }
  }
  peer.via_attempt = peer.pending->localIndex();
  hellos_via_sent++;
}

void Engine::Impl::onHelloFrom(Instant now, const protocol::HelloFromMsg& msg) {
  PeerState* peer = findPeer(msg.peer_name);
  const Introduction* intro = nullptr;
  if (peer != nullptr && !peer->we_are_client) {
    for (const auto& i : peer->intros) {
      intro = i.id == msg.intro_id ? &i : intro;
    }
  }
  if (intro == nullptr) {
    drops.add(DropReason::kControlRejected);  // not a client of ours we were just introduced to
    return;
  }
  auto p = protocol::parseHandshake(msg.hello);
  if (!p || !p->hasHello() || p->isKick() || !p->hasPayload() || p->receiver_index != 0 ||
      p->name != peer->name) {
    drops.add(DropReason::kMalformed);
    return;
  }
  // Answered where the introduction it came with says the client is: after a restart an older
  // introduction may still name the port it had before.
  if (!intro->public_path) {
    return;  // nowhere to answer yet; the client's own copy will come
  }
  hellos_from_received++;
  onClientHello(*peer, now, *intro->public_path, *p, true);
}

void Engine::Impl::aimPending(PeerState& peer, const Path& to) {
  peer.pending_path = to;
  peer.pending->setEndpoint(to.endpoint);
  peer.pending_unaimed = false;
  peer.via_hello.clear();
}

void Engine::Impl::followVouched(PeerState& peer, Instant now, const Path& from) {
  if (!peer.pending || peer.vouched_attempt == 0 ||
      peer.vouched_attempt != peer.pending->localIndex() || peer.vouched_followed ||
      from.relayed()) {
    return;
  }
  peer.vouched_followed = true;
  if (from == peer.pending_path) {
    return;
  }
  aimPending(peer, from);
  peer.pending->retransmitNow(now);
}

}  // namespace vpn::client
