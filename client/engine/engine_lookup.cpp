// Looking peers up at the rendezvous (docs/rendezvous.md; docs/paths.md rule 14): when a peer needs an
// introduction, the LOOKUP that asks for one (with a reading of our NAT's next port when port
// prediction aims at it), its backoff, and what a failed lookup tells the peer's status.
#include <algorithm>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

constexpr Duration kMaxLookupBackoff = seconds(30);

}  // namespace

bool Engine::Impl::needsIntroduction(const PeerState& peer, Instant now) const {
  if (peer.punch_until != kNever && now < peer.punch_until) {
    return false;  // punching already
  }
  if (peer.session) {
    return peer.want_direct_lookup;  // a background direct retry
  }
  if (peer.pending && peer.punch_connected) {
    return false;  // a handshake on a punched path is under way
  }
  return !peer.configured_endpoint || peer.direct_failed;
}

void Engine::Impl::onDirectFailure(PeerState& peer, Instant now) {
  peer.direct_failed = true;
  peer.punch_connected = false;
  if (!rendezvous.empty() && peer.lookup_at == kNever && needsIntroduction(peer, now)) {
    peer.lookup_at = now;
  }
}

void Engine::Impl::servicePeerLookup(PeerState& peer, Instant now) {
  if (peer.lookup_at > now) {
    return;
  }
  bool announce = peer.announce_lookup && !(peer.session && peer.session->path.kind() ==
                                                                  PathKind::kDirectUdp);
  peer.announce_lookup = false;
  if (!needsIntroduction(peer, now) && !announce) {
    peer.lookup_at = kNever;
    return;
  }
  if (!anyToAsk()) {
    peer.lookup_at = kNever;  // re-armed when a rendezvous session comes up
    return;
  }
  if (wantReading(now)) {
    // The peer will aim at our NAT's next ports: the LOOKUP carries where the counter stands.
    peer.announce_lookup = announce;
    peer.await_reading = true;
    peer.lookup_at = kNever;  // finishPortReading re-arms it
    requestPortReading(now);
    return;
  }
  // Just before the LOOKUP: the rendezvous keeps it for the introduction the LOOKUP brings.
  prepareHelloVia(peer, now);
  protocol::LookupMsg msg;
  msg.request_id = peer.lookup_id = next_lookup_id++;
  msg.name = peer.name;
  if (sequentialNat() && freshReading(now)) {
    msg.reading = port_reading.value;
  }
  sendLookup(now, msg);
  noteAttempt(peer, now);
  if (peer.session) {
    peer.want_direct_lookup = false;  // one lookup per background retry
    peer.lookup_at = kNever;
    return;
  }
  peer.lookup_at = now + peer.lookup_backoff;
  peer.lookup_backoff = std::min(kMaxLookupBackoff, peer.lookup_backoff * 2);
}

void Engine::Impl::onLookupFailed(Instant now, const protocol::LookupFailedMsg& msg) {
  PeerState* peer = msg.name.empty() ? nullptr : findPeer(msg.name);
  if (peer == nullptr) {
    for (auto& p : peers) {
      if (p->lookup_id == msg.request_id) {
        peer = p.get();
      }
    }
  }
  if (peer == nullptr || peer->session) {
    return;
  }
  peer->last_error = "rendezvous lookup failed: " + std::string(protocol::toString(msg.reason));
  // lookup_at already holds the backoff retry.
  (void)now;
}

}  // namespace vpn::client
