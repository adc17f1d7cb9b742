// Certificates and fresh keys over a session's life:
//   - a session ends when the peer's (or the server's) certificate expires, on our wall clock
//     mapped onto the engine's clock at establishment, and no handshake completes with an expired
//     or blocked certificate;
//   - closeBlocked() closes sessions whose certificate a reloaded blocklist now names;
//   - the TLS client of each pair runs a fresh handshake (new ECDHE) every rehandshake_interval
//     on the session's path, make-before-break: the new session replaces the old one when it is
//     established, and the old one keeps opening what the peer sealed before it switched for
//     kPreviousGrace, so the switch loses no packet. A fresh handshake that fails leaves the
//     session as it is and is tried again after kRehandshakeRetry.
#include <chrono>
#include <cstdio>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

std::string day(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

Instant Engine::Impl::expiryInstant(const crypto::CertIdentity& id, Instant now) const {
  auto wall = options.wall_clock ? options.wall_clock() : std::chrono::system_clock::now();
  auto left = id.not_after - wall;
  if (left > std::chrono::hours(24 * 365 * 100)) {
    return kNever;
  }
  return now + std::chrono::duration_cast<Duration>(left);
}

std::string Engine::Impl::certificateProblem(const crypto::CertIdentity& id, Instant now) const {
  if (tls.isBlocked(id.fingerprint)) {
    return "certificate of '" + id.name + "' (sha256 " + id.fingerprint + ") is on the blocklist";
  }
  if (expiryInstant(id, now) <= now) {
    return "certificate of '" + id.name + "' expired on " + day(id.not_after);
  }
  return {};
}

void Engine::Impl::closeBlocked(Instant now) {
  for (auto& p : peers) {
    PeerState& peer = *p;
    if (peer.session && tls.isBlocked(peer.cert_fingerprint)) {
      dropPrevious(peer);
      dropSession(peer, now,
                  "certificate of '" + peer.name + "' (sha256 " + peer.cert_fingerprint +
                      ") is on the blocklist");
    }
  }
  for (auto& rv : rendezvous) {
    if (rv->session && tls.isBlocked(rv->cert_fingerprint)) {
      dropRendezvousSession(*rv, now,
                            "certificate (sha256 " + rv->cert_fingerprint + ") is on the blocklist");
      rv->last_error = "the server's certificate is on the blocklist";
    }
  }
}

void Engine::Impl::retirePrevious(PeerState& peer, std::unique_ptr<PeerSession> old, Instant now) {
  dropPrevious(peer);
  if (!old) {
    return;
  }
  peer.key_updates_done += old->keys->keyUpdates();
  peer.previous = std::move(old);
  peer.previous_until = now + kPreviousGrace;
}

void Engine::Impl::dropPrevious(PeerState& peer) {
  if (!peer.previous) {
    return;
  }
  auto it = by_index.find(peer.previous->local_index);
  if (it != by_index.end() && it->second == &peer) {
    by_index.erase(it);
  }
  peer.previous.reset();
  peer.previous_until = kNever;
}

void Engine::Impl::onPreviousData(PeerState& peer, Instant now, const protocol::DataHeader& header,
                                  std::span<std::uint8_t> datagram) {
  PeerSession& s = *peer.previous;
  auto r = s.keys->open(now, header, datagram, s.keyGrace());
  if (r.status == DataKeys::OpenStatus::kReplay) {
    drops.add(DropReason::kReplay);
    return;
  }
  if (r.status != DataKeys::OpenStatus::kOk) {
    drops.add(DropReason::kAuthFailed);
    return;
  }
  if (header.keepalive) {
    return;  // the peer's old session is winding down; liveness goes by the new one
  }
  auto plain = datagram.subspan(protocol::kDataHeaderSize,
                                datagram.size() - protocol::kDataOverhead);
  deliverInner(peer, plain);
}

void Engine::Impl::serviceLifetime(PeerState& peer, Instant now) {
  if (peer.previous && now >= peer.previous_until) {
    dropPrevious(peer);
  }
  if (!peer.session) {
    return;
  }
  if (now >= peer.cert_expires_at) {
    dropPrevious(peer);
    dropSession(peer, now, "certificate of '" + peer.name + "' expired");
    return;
  }
  if (peer.we_are_client && !peer.pending && now >= peer.rehandshake_at) {
    peer.rehandshake_at = now + kRehandshakeRetry;  // replaced when the new session is up
    if (initiate(peer, now, peer.session->path, 0) != nullptr) {
      peer.rehandshaking = true;
    }
  }
}

Instant Engine::Impl::lifetimeDeadline(const PeerState& peer) const {
  Instant next = peer.previous ? peer.previous_until : kNever;
  if (peer.session) {
    next = std::min(next, peer.cert_expires_at);
    if (peer.we_are_client && !peer.pending) {
      next = std::min(next, peer.rehandshake_at);
    }
  }
  return next;
}

void Engine::closeBlocked(Instant now) { impl_->closeBlocked(now); }

}  // namespace vpn::client
