// Handshake packets: matching them to our attempts (ours, the rival, a session's lingering one),
// TLS roles, admission of new attempts (padding, cookies, proven paths, rate limits), cookie
// replies, and convergence of simultaneous initiation.
#include <algorithm>
#include <array>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {

void Engine::Impl::onHandshake(Instant now, const Path& from,
                               std::span<const std::uint8_t> datagram) {
  auto parsed = protocol::parseHandshake(datagram);
  if (!parsed) {
    drops.add(DropReason::kMalformed);
    return;
  }
  const protocol::HandshakePacket& p = *parsed;
  if (p.isKick() && p.hasPayload()) {
    drops.add(DropReason::kMalformed);
    return;
  }

  if (p.receiver_index != 0) {
    // It names one of our indices, which only our packets to one endpoint carried: the sender
    // receives there (or is on the path).
    auto it = by_index.find(p.receiver_index);
    if (it == by_index.end()) {
      if (!onRendezvousHandshake(now, from, p)) {
        drops.add(DropReason::kUnknownIndex);
      }
      return;
    }
    PeerState& peer = *it->second;
    auto matches = [&](const Handshake& hs) {
      return hs.remoteIndex() == 0 || hs.remoteIndex() == p.sender_index;
    };
    if (peer.pending && peer.pending->localIndex() == p.receiver_index) {
      Handshake& hs = *peer.pending;
      if (!matches(hs)) {
        drops.add(DropReason::kUnknownIndex);
        return;
      }
      if (hs.remoteIndex() == 0) {
        aimPending(peer, from);  // the first answer tells us where the peer really is (NAT)
      } else {
        followVouched(peer, now, from);
      }
      hs.onPacket(now, p);
      servePending(peer, now);
      return;
    }
    if (peer.rival && peer.rival->localIndex() == p.receiver_index) {
      if (!matches(*peer.rival)) {
        drops.add(DropReason::kUnknownIndex);
        return;
      }
      peer.rival->onPacket(now, p);
      serveRival(peer, now);
      return;
    }
    if (peer.session && peer.session->local_index == p.receiver_index &&
        peer.session->remote_index == p.sender_index) {
      if (peer.session->linger) {
        onLingerPacket(peer, now, p);
      }
      return;
    }
    drops.add(DropReason::kUnknownIndex);
    return;
  }

  // No receiver index: the sender must say who it claims to be, in a padded packet (what we
  // send back to an unknown index must not be larger).
  if (!p.hasHello()) {
    drops.add(DropReason::kUnknownIndex);
    return;
  }
  if (p.wire_size < protocol::kMinInitialPacket) {
    drops.add(DropReason::kUnpadded);
    return;
  }
  PeerState* peer = findPeer(p.name);
  if (peer == nullptr) {
    drops.add(DropReason::kUnknownPeer);
    return;
  }
  if (from.relayed()) {
    // A relay channel joins two certified names: a HELLO on a channel we know to be another
    // peer's is a lie (the rendezvous checks the same before relaying).
    for (const auto& other : peers) {
      if (other.get() != peer && other->relay_path && *other->relay_path == from) {
        drops.add(DropReason::kRelayRejected);
        return;
      }
    }
  }
  if (p.isKick()) {
    onKick(*peer, now, from, p);
  } else if (p.hasPayload()) {
    onClientHello(*peer, now, from, p);
  } else {
    drops.add(DropReason::kUnknownIndex);
  }
}

void Engine::Impl::onKick(PeerState& peer, Instant now, const Path& from,
                          const protocol::HandshakePacket& p) {
  if (!peer.we_are_client) {
    drops.add(DropReason::kHandshakeFailed);  // both sides claim the server role
    return;
  }
  if ((peer.session && peer.session->remote_index == p.sender_index) ||
      (peer.pending && peer.pending->remoteIndex() == p.sender_index) ||
      (peer.rival && peer.rival->remoteIndex() == p.sender_index)) {
    return;  // a late or repeated kick of an attempt we already answer
  }
  if (peer.pending && peer.pending->remoteIndex() == 0 && peer.pending_path == from) {
    // Simultaneous start: our ClientHello is on its way to the kicker, which takes it up. A kick
    // never changes what our attempt addresses, so a forged one cannot derail it.
    return;
  }
  if (!allowHandshake(now, from) || pendingCount() >= kMaxPendingHandshakes) {
    drops.add(DropReason::kRateLimited);
    return;
  }
  // Our ClientHello answers a padded kick, at most 1x until the kicker answers (the kick is not
  // proof that anyone receives at its source).
  Admission admit = provenPath(peer, from) ? Admission::kProven : Admission::kUnproven;
  if (!peer.pending) {
    initiate(peer, now, from, p.sender_index, admit, p.wire_size);
  } else {
    startRival(peer, now, from, p.sender_index, admit, p);
  }
}

void Engine::Impl::onClientHello(PeerState& peer, Instant now, const Path& from,
                                 const protocol::HandshakePacket& p, bool vouched) {
  if (peer.we_are_client) {
    drops.add(DropReason::kHandshakeFailed);  // both sides claim the client role
    return;
  }
  if (peer.session && peer.session->remote_index == p.sender_index) {
    if (peer.session->linger) {  // a retransmitted ClientHello of the current session
      onLingerPacket(peer, now, p);
    }
    return;
  }
  if (peer.pending && peer.pending->remoteIndex() == p.sender_index) {
    if (!vouched && peer.vouched_attempt == peer.pending->localIndex()) {
      // The client's own copy of a ClientHello we had from the rendezvous. It sends one when the
      // introduction aims it and another when a path works and it has heard nothing: then our
      // answer met its NAT before its first packet to us opened it, so it goes again now.
      followVouched(peer, now, from);
      if (++peer.vouched_copies >= 2 && !peer.pending->channel().allAcked()) {
        peer.pending->retransmitNow(now);
      }
    }
    peer.pending->onPacket(now, p);
    servePending(peer, now);
    return;
  }
  if (peer.rival && peer.rival->remoteIndex() == p.sender_index) {
    peer.rival->onPacket(now, p);
    serveRival(peer, now);
    return;
  }
  // A new attempt by the client. It must start at the beginning of its stream, and prove its
  // address unless it comes from a path the peer has already shown it receives on and we are not
  // under load: otherwise it gets a cookie and we keep nothing.
  if (p.packet_id != 1) {
    drops.add(DropReason::kUnknownIndex);
    return;
  }
  bool connected = from.transport == Transport::kTcp || from.relayed();
  bool proven = connected || vouched || (provenPath(peer, from) && pendingCount() < kCookieLoad);
  // From a candidate we probe in this punch: the client sent it with its first probes. It skips
  // the cookie round trip (set-up time) but, as its address is not proven yet, our answer stays
  // within a 1x budget until a packet naming our index comes back.
  bool expected = !proven && probedCandidate(peer, from) && pendingCount() < kCookieLoad;
  Admission admit = vouched    ? Admission::kVouched
                    : expected ? Admission::kUnproven
                               : Admission::kProven;
  if (!proven && !expected) {
    if (!p.hasCookie() || !cookies.check(now, from.endpoint, p.sender_index, p.cookie)) {
      if (p.hasCookie()) {
        drops.add(DropReason::kBadCookie);
      }
      sendCookieReply(now, from, p.sender_index);
      return;
    }
  }
  if (!allowHandshake(now, from) || pendingCount() >= kMaxPendingHandshakes) {
    drops.add(DropReason::kRateLimited);
    return;
  }
  if (peer.pending && peer.pending->remoteIndex() == 0 && peer.pending_path == from) {
    // Our kick session takes up the client's handshake: it came from where we kick, so nothing
    // is redirected.
    if (vouched) {
      peer.vouched_attempt = peer.pending->localIndex();
      peer.vouched_followed = false;
      peer.vouched_copies = 0;
    }
    peer.pending->onPacket(now, p);
    servePending(peer, now);
    return;
  }
  // Two ClientHellos passed on by the rendezvous, the older one not confirmed by any direct
  // packet: the newer is the client's newest attempt (the older may be from before a restart).
  bool newer_vouched = vouched && peer.pending && peer.vouched_attempt != 0 &&
                       peer.vouched_attempt == peer.pending->localIndex() &&
                       !peer.vouched_followed;
  if (!peer.pending || newer_vouched) {
    Handshake* hs = initiate(peer, now, from, p.sender_index, admit);
    if (hs != nullptr) {
      if (vouched) {
        peer.vouched_attempt = hs->localIndex();
      }
      hs->onPacket(now, p);
      servePending(peer, now);
    }
    return;
  }
  // A restarted client, or someone claiming to be it: a second attempt beside ours.
  startRival(peer, now, from, p.sender_index, admit, p);
}

bool Engine::Impl::provenPath(const PeerState& peer, const Path& from) const {
  if (from.transport == Transport::kTcp || from.relayed()) {
    return true;
  }
  if ((peer.session && peer.session->path == from) || (peer.direct && peer.direct->path == from) ||
      (peer.last_path && *peer.last_path == from)) {
    return true;
  }
  return std::any_of(peer.candidates.begin(), peer.candidates.end(), [&](const PunchCandidate& c) {
    return c.replies > 0 && c.path() == from;
  });
}

void Engine::Impl::sendCookieReply(Instant now, const Path& to, std::uint32_t sender_index) {
  protocol::CookieReply reply;
  reply.receiver_index = sender_index;
  reply.cookie = cookies.make(now, to.endpoint, sender_index);
  std::array<std::uint8_t, protocol::kCookieReplySize> out{};
  std::size_t n = protocol::serializeCookieReply(reply, out);
  cookie_replies++;
  sendOnPath(to, std::span<const std::uint8_t>(out.data(), n));
}

void Engine::Impl::onCookieReply(Instant now, const Path& from,
                                 std::span<const std::uint8_t> datagram) {
  auto reply = protocol::parseCookieReply(datagram);
  if (!reply) {
    drops.add(DropReason::kMalformed);
    return;
  }
  // Only the handshake that sent a HELLO to `from` takes it; a forged one can do no more than
  // make that HELLO carry a wrong cookie, which its responder answers with a fresh one.
  std::uint32_t index = reply->receiver_index;
  if (auto it = by_index.find(index); it != by_index.end()) {
    PeerState& peer = *it->second;
    if (peer.pending && peer.pending->localIndex() == index && peer.pending_path == from &&
        peer.pending->setCookie(now, reply->cookie)) {
      servePending(peer, now);
      return;
    }
  } else if (RendezvousState* rv = rendezvousByIndex(index); rv != nullptr) {
    if (rv->pending && rv->pending->localIndex() == index && rv->path() == from &&
        rv->pending->setCookie(now, reply->cookie)) {
      serveRendezvousPending(*rv, now);
      return;
    }
    if (rv->udp_trial && rv->udp_trial->localIndex() == index &&
        from == Path::udp(rv->spec.udp) && rv->udp_trial->setCookie(now, reply->cookie)) {
      serviceUdpTrial(*rv, now);
      return;
    }
    if (rv->alt_race && rv->alt_race->localIndex() == index && rv->spec.udp_alt &&
        from == Path::udp(*rv->spec.udp_alt) && rv->alt_race->setCookie(now, reply->cookie)) {
      serviceAltRace(*rv, now);
      return;
    }
  }
  drops.add(DropReason::kUnknownIndex);
}

void Engine::Impl::onLingerPacket(PeerState& peer, Instant now,
                                  const protocol::HandshakePacket& p) {
  Handshake& hs = *peer.session->linger;
  hs.onPacket(now, p);
  PathSink out(*this, peer.session->path);
  hs.flush(now, out);
  if (hs.state() != Handshake::State::kFailed) {
    return;
  }
  // The peer rejected us after our side had finished (TLS 1.3 clients finish first): the
  // session never worked. Retry with backoff, not at once, since the cause is usually permanent.
  by_index.erase(peer.session->local_index);
  peer.key_updates_done += peer.session->keys->keyUpdates();
  peer.session.reset();
  peer.last_error = "handshake failed: " + hs.failureReason();
  drops.add(DropReason::kHandshakeFailed);
  scheduleRetry(peer, now);
}

}  // namespace vpn::client
