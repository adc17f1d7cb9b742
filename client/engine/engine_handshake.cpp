// Handshake packets: matching them to pending handshakes, TLS roles, convergence of simultaneous
// initiation, and turning a finished handshake into the peer's session.
#include <algorithm>

#include "client/engine/engine_impl.hpp"
#include "crypto/certificate.hpp"
#include "crypto/key_schedule.hpp"

namespace vpn::client {

std::size_t Engine::Impl::pendingCount() const {
  std::size_t n = 0;
  for (const auto& p : peers) {
    n += p->pending ? 1u : 0u;
  }
  return n;
}

bool Engine::Impl::allowHandshake(Instant now, const Path& from) {
  return from.relayed() ? relay_limiter.allow(now, from.endpoint.address())
                        : limiter.allow(now, from.endpoint.address());
}

Handshake* Engine::Impl::initiate(PeerState& peer, Instant now, const Path& to,
                                  std::uint32_t remote_index) {
  dropPending(peer);
  peer.retry_at = kNever;
  noteAttempt(peer, now);
  Handshake::Params params;
  params.role = peer.we_are_client ? crypto::TlsSession::Role::kClient
                                   : crypto::TlsSession::Role::kServer;
  params.own_name = options.own_name;
  params.peer_name = peer.name;
  params.local_index = newIndex();
  params.remote_index = remote_index;
  params.endpoint = to.endpoint;
  params.timeout = options.handshake_timeout;
  try {
    peer.pending = std::make_unique<Handshake>(tls, std::move(params), now);
  } catch (const std::exception& e) {
    peer.last_error = std::string("handshake failed: ") + e.what();
    scheduleRetry(peer, now);
    return nullptr;
  }
  by_index[peer.pending->localIndex()] = &peer;
  peer.pending_path = to;
  peer.pending->begin(now);
  servePending(peer, now);
  return peer.pending.get();
}

void Engine::Impl::dropPending(PeerState& peer) {
  if (!peer.pending) {
    return;
  }
  auto it = by_index.find(peer.pending->localIndex());
  if (it != by_index.end() && !(peer.session && peer.session->local_index == it->first)) {
    by_index.erase(it);
  }
  peer.pending.reset();
  for (std::size_t i = 0; i < peer.early.size(); ++i) {
    drops.add(DropReason::kUnknownIndex);
  }
  peer.early.clear();
}

void Engine::Impl::servePending(PeerState& peer, Instant now) {
  if (!peer.pending) {
    return;
  }
  PathSink out(*this, peer.pending_path);
  peer.pending->flush(now, out);
  switch (peer.pending->state()) {
    case Handshake::State::kEstablished:
      completeHandshake(peer, now);
      break;
    case Handshake::State::kFailed:
      failHandshake(peer, now, peer.pending->failureReason());
      break;
    case Handshake::State::kHandshaking:
      break;
  }
}

void Engine::Impl::failHandshake(PeerState& peer, Instant now, const std::string& reason) {
  if (peer.pending) {
    peer.pending->fail(reason);
    PathSink out(*this, peer.pending_path);
    peer.pending->flush(now, out);  // best effort: a TLS alert may be queued
  }
  peer.last_error = "handshake failed: " + reason;
  drops.add(DropReason::kHandshakeFailed);
  dropPending(peer);
  // Queued packets wait for the next attempt (the relay, a retry) while they are younger than one
  // handshake timeout; older ones are dropped.
  bool fresh = peer.queue.size() > 0 && now - peer.queue_since < options.handshake_timeout;
  if (!peer.session && !fresh) {
    for (std::size_t i = 0; i < peer.queue.size(); ++i) {
      drops.add(DropReason::kNoSession);
    }
    peer.queue.clear();
  }
  scheduleRetry(peer, now);
  onDirectFailure(peer, now);
}

void Engine::Impl::installRoutes(PeerState& peer, std::vector<protocol::IpPrefix> addresses) {
  for (const auto& a : peer.addresses) {
    auto it = routes.find(a.address());
    if (it != routes.end() && it->second == &peer) {
      routes.erase(it);
    }
  }
  peer.addresses = std::move(addresses);
  for (const auto& a : peer.addresses) {
    routes[a.address()] = &peer;
  }
}

void Engine::Impl::completeHandshake(PeerState& peer, Instant now) {
  std::unique_ptr<Handshake> hs = std::move(peer.pending);
  crypto::TlsSession& tls_session = hs->tls();
  const crypto::CertIdentity& id = tls_session.peerIdentity();
  auto fail = [&](const std::string& why) {
    peer.pending = std::move(hs);
    failHandshake(peer, now, why);
  };
  if (id.name != peer.name) {
    fail("peer certificate names '" + id.name + "', expected '" + peer.name + "'");
    return;
  }
  if (id.rendezvous_role) {
    fail("peer certificate of '" + id.name + "' carries the rendezvous role");
    return;
  }
  auto secrets = crypto::exportSessionSecrets(tls_session);
  if (!secrets) {
    fail("cannot export data keys");
    return;
  }
  auto suite = tls_session.negotiatedCipher();
  auto keys = DataKeys::create(suite, *secrets, hs->isClient(), now);
  secrets->client_to_server.wipe();
  secrets->server_to_client.wipe();
  if (!keys) {
    fail("cannot create data ciphers");
    return;
  }
  auto s = PeerSession::establish(std::move(hs), std::move(keys), now, timing(), peer.pending_path);

  std::string before = "none";
  if (peer.session) {
    before = std::string(toString(peer.session->path.kind()));
    by_index.erase(peer.session->local_index);
    peer.key_updates_done += peer.session->keys->keyUpdates();
  }
  by_index[s->local_index] = &peer;
  installRoutes(peer, id.addresses);
  peer.cipher = std::string(crypto::toString(suite));
  peer.handshakes++;
  peer.last_handshake = now;
  peer.last_error.clear();
  peer.last_path = s->path;
  peer.retry_backoff = seconds(1);
  peer.retry_at = kNever;
  peer.unreachable = false;
  peer.unreachable_backoff = Duration{};
  peer.direct_failed = false;
  peer.punch_connected = false;
  peer.lookup_at = kNever;
  peer.lookup_backoff = seconds(2);
  peer.session = std::move(s);
  onSessionPath(peer, now, before);
  if (peer.session->path.kind() == PathKind::kDirectUdp) {
    stopPunch(peer);
  }
  flushQueue(peer, now);
  openEarly(peer, now);
}

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
    auto it = by_index.find(p.receiver_index);
    if (it == by_index.end()) {
      if (!onRendezvousHandshake(now, from, p)) {
        drops.add(DropReason::kUnknownIndex);
      }
      return;
    }
    PeerState& peer = *it->second;
    if (peer.pending && peer.pending->localIndex() == p.receiver_index) {
      Handshake& hs = *peer.pending;
      if (hs.remoteIndex() != 0 && hs.remoteIndex() != p.sender_index) {
        drops.add(DropReason::kUnknownIndex);
        return;
      }
      if (hs.remoteIndex() == 0) {
        peer.pending_path = from;  // the first answer tells us where the peer really is (NAT)
      }
      hs.onPacket(now, p);
      servePending(peer, now);
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

  if (p.isKick()) {
    if (!peer->we_are_client) {
      drops.add(DropReason::kHandshakeFailed);  // both sides claim the server role
      return;
    }
    if (peer->session && peer->session->remote_index == p.sender_index) {
      return;  // a late kick from the handshake that made this session
    }
    if (peer->pending) {
      Handshake& hs = *peer->pending;
      if (hs.remoteIndex() == p.sender_index) {
        return;  // duplicate kick
      }
      if (hs.remoteIndex() == 0) {
        // Simultaneous start: our ClientHello is on its way; address the kicker's session (and
        // follow the kick's path if ours has brought nothing yet).
        hs.setRemoteIndex(p.sender_index);
        if (!hs.receivedAnything()) {
          peer->pending_path = from;
        }
        hs.retransmitNow(now);
        servePending(*peer, now);
        return;
      }
    }
    if (!allowHandshake(now, from)) {
      drops.add(DropReason::kRateLimited);
      return;
    }
    initiate(*peer, now, from, p.sender_index);
    return;
  }

  if (!p.hasPayload()) {
    drops.add(DropReason::kUnknownIndex);
    return;
  }
  if (peer->we_are_client) {
    drops.add(DropReason::kHandshakeFailed);  // both sides claim the client role
    return;
  }
  if (peer->session && peer->session->remote_index == p.sender_index) {
    if (peer->session->linger) {  // a retransmitted ClientHello of the current session
      onLingerPacket(*peer, now, p);
    }
    return;
  }
  if (peer->pending) {
    Handshake& hs = *peer->pending;
    if (hs.remoteIndex() == p.sender_index || hs.remoteIndex() == 0) {
      // Ours already, or our kick session adopts the client's handshake.
      if (hs.remoteIndex() == 0) {
        peer->pending_path = from;
      }
      hs.onPacket(now, p);
      servePending(*peer, now);
      return;
    }
  }
  if (!allowHandshake(now, from) ||
      (!peer->pending && pendingCount() >= kMaxPendingHandshakes)) {
    drops.add(DropReason::kRateLimited);
    return;
  }
  // A new ClientHello (the client restarted or retried): it replaces our pending handshake.
  Handshake* hs = initiate(*peer, now, from, p.sender_index);
  if (hs != nullptr) {
    hs->onPacket(now, p);
    servePending(*peer, now);
  }
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
