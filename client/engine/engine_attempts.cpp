// Handshake attempts with a peer: starting ours, a second one that an incoming packet asks for
// (the rival, which never replaces ours: the first to finish wins), serving both, and turning a
// finished one into the peer's session.
#include <algorithm>

#include "client/engine/engine_impl.hpp"
#include "crypto/certificate.hpp"
#include "crypto/key_schedule.hpp"

namespace vpn::client {

std::size_t Engine::Impl::pendingCount() const {
  std::size_t n = 0;
  for (const auto& p : peers) {
    n += (p->pending ? 1u : 0u) + (p->rival ? 1u : 0u);
  }
  return n;
}

bool Engine::Impl::allowHandshake(Instant now, const Path& from) {
  if (from.relayed()) {
    return relay_limiter.allow(now, from.endpoint.address());
  }
  return admission.allow(now, from.endpoint.address()) ==
         session::AdmissionLimiter::Verdict::kAllow;
}

Handshake::Params Engine::Impl::attemptParams(const PeerState& peer, const Path& to,
                                             std::uint32_t remote_index, Admission admit,
                                             std::size_t credit) {
  Handshake::Params params;
  params.role = peer.we_are_client ? crypto::TlsSession::Role::kClient
                                   : crypto::TlsSession::Role::kServer;
  params.own_name = options.own_name;
  params.peer_name = peer.name;
  params.local_index = newIndex();
  params.remote_index = remote_index;
  params.endpoint = to.endpoint;
  params.timeout = options.handshake_timeout;
  params.responder = admit == Admission::kProven || admit == Admission::kUnproven;
  params.validated = admit != Admission::kUnproven;
  params.credit = credit;
  return params;
}

Handshake* Engine::Impl::initiate(PeerState& peer, Instant now, const Path& to,
                                  std::uint32_t remote_index, Admission admit,
                                  std::size_t credit) {
  Handshake* hs = createPending(peer, now, to, remote_index, admit, credit);
  if (hs != nullptr) {
    servePending(peer, now);
  }
  return peer.pending.get();
}

Handshake* Engine::Impl::createPending(PeerState& peer, Instant now, const Path& to,
                                       std::uint32_t remote_index, Admission admit,
                                       std::size_t credit) {
  dropPending(peer);
  peer.retry_at = kNever;
  noteAttempt(peer, now);
  try {
    peer.pending = std::make_unique<Handshake>(
        tls, attemptParams(peer, to, remote_index, admit, credit), now);
  } catch (const std::exception& e) {
    peer.last_error = std::string("handshake failed: ") + e.what();
    scheduleRetry(peer, now);
    return nullptr;
  }
  by_index[peer.pending->localIndex()] = &peer;
  peer.pending_path = to;
  peer.pending->begin(now);
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
  peer.pending_unaimed = false;
  peer.via_hello.clear();
  peer.via_attempt = 0;
  peer.via_first.clear();
  peer.via_poke_at = kNever;
  peer.vouched_attempt = 0;
  peer.vouched_followed = false;
  peer.vouched_copies = 0;
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
  DiscardSink nowhere;
  // Unaimed, its (re)transmissions have nowhere to go; flushing still moves its timers on.
  peer.pending->flush(now, peer.pending_unaimed ? static_cast<session::DatagramSink&>(nowhere)
                                                : static_cast<session::DatagramSink&>(out));
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
    if (!peer.pending_unaimed) {
      PathSink out(*this, peer.pending_path);
      peer.pending->flush(now, out);  // best effort: a TLS alert may be queued
    }
  }
  if (peer.rehandshaking && peer.session) {
    // A fresh handshake on a live session failed: the session goes on, the next try comes later
    // (rehandshake_at). Nothing about paths has changed.
    peer.rehandshaking = false;
    peer.last_error = "fresh handshake failed: " + reason;
    drops.add(DropReason::kHandshakeFailed);
    dropPending(peer);
    return;
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
  if (std::string problem = certificateProblem(id, now); !problem.empty()) {
    fail(problem);
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
  // A fresh handshake on the path the session already uses changes the keys, not the path.
  const bool same_path = peer.session && peer.session->path == s->path;
  if (peer.session) {
    before = std::string(toString(peer.session->path.kind()));
    retirePrevious(peer, std::move(peer.session), now);  // make-before-break
  }
  peer.rehandshaking = false;
  peer.cert_expires_at = expiryInstant(id, now);
  peer.rehandshake_at = options.rehandshake_interval > Duration::zero()
                            ? now + options.rehandshake_interval
                            : kNever;
  by_index[s->local_index] = &peer;
  installRoutes(peer, id.addresses);
  peer.groups = id.groups;
  peer.cert_fingerprint = id.fingerprint;
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
  if (!same_path) {
    onSessionPath(peer, now, before);
  }
  if (peer.session->path.kind() == PathKind::kDirectUdp && !wantsIpv6(peer)) {
    stopPunch(peer);  // (over IPv4 with IPv6 candidates left, the punch goes on for them)
  }
  dropRival(peer);  // the other attempt, if any, has lost
  flushQueue(peer, now);
  flushUnrouted(now);
  openEarly(peer, now);
}

void Engine::Impl::startRival(PeerState& peer, Instant now, const Path& from,
                              std::uint32_t remote_index, Admission admit,
                              const protocol::HandshakePacket& cause) {
  dropRival(peer);
  try {
    peer.rival = std::make_unique<Handshake>(
        tls, attemptParams(peer, from, remote_index, admit, cause.isKick() ? cause.wire_size : 0),
        now);
  } catch (const std::exception&) {
    drops.add(DropReason::kHandshakeFailed);
    return;
  }
  by_index[peer.rival->localIndex()] = &peer;
  peer.rival_path = from;
  peer.rival->begin(now);
  if (!cause.isKick()) {
    peer.rival->onPacket(now, cause);  // the ClientHello that asked for it
  }
  serveRival(peer, now);
}

void Engine::Impl::dropRival(PeerState& peer) {
  if (!peer.rival) {
    return;
  }
  auto it = by_index.find(peer.rival->localIndex());
  if (it != by_index.end() && !(peer.session && peer.session->local_index == it->first)) {
    by_index.erase(it);
  }
  peer.rival.reset();
}

void Engine::Impl::serveRival(PeerState& peer, Instant now) {
  if (!peer.rival) {
    return;
  }
  PathSink out(*this, peer.rival_path);
  peer.rival->flush(now, out);
  switch (peer.rival->state()) {
    case Handshake::State::kEstablished:
      // It won: it becomes the attempt that completes, and ours is dropped (early data stays:
      // it may be for the winner).
      if (peer.pending) {
        by_index.erase(peer.pending->localIndex());
      }
      peer.pending = std::move(peer.rival);
      peer.pending_path = peer.rival_path;
      completeHandshake(peer, now);
      break;
    case Handshake::State::kFailed:
      // Only this attempt failed (perhaps it was never the peer's): ours goes on untouched.
      drops.add(DropReason::kHandshakeFailed);
      dropRival(peer);
      break;
    case Handshake::State::kHandshaking:
      break;
  }
}

}  // namespace vpn::client
