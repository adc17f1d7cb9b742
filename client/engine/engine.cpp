#include "client/engine/engine.hpp"

#include <algorithm>
#include <stdexcept>

#include "client/engine/engine_impl.hpp"
#include "crypto/random.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::client {

bool TxQueue::push(std::span<const std::uint8_t> packet, const Path& from) {
  if (count_ >= kSlots || packet.size() > kSlotSize) {
    return false;
  }
  if (storage_.empty()) {
    storage_.resize(kSlots * kSlotSize);
  }
  std::size_t slot = (head_ + count_) % kSlots;
  std::copy(packet.begin(), packet.end(), storage_.begin() + static_cast<std::ptrdiff_t>(slot * kSlotSize));
  lens_[slot] = packet.size();
  froms_[slot] = from;
  ++count_;
  return true;
}

Engine::Impl::Impl(crypto::TlsContext& tls_ctx, EngineOptions opts, EngineSink& out)
    : tls(tls_ctx), options(std::move(opts)), sink(out) {
  if (options.own_name.empty()) {
    throw std::invalid_argument("engine: own_name is empty");
  }
  for (const auto& spec : options.peers) {
    if (spec.name.empty() || spec.name == options.own_name) {
      throw std::invalid_argument("engine: invalid peer name '" + spec.name + "'");
    }
    if (findPeer(spec.name) != nullptr) {
      throw std::invalid_argument("engine: duplicate peer '" + spec.name + "'");
    }
    auto p = std::make_unique<PeerState>();
    p->name = spec.name;
    p->configured_endpoint = spec.endpoint;
    p->we_are_client = options.own_name < spec.name;
    p->relay.backoff = seconds(1);
    p->direct_retry_backoff = options.direct_retry;
    peers.push_back(std::move(p));
  }
  // Any datagram we send fits a UDP datagram; a relayed one needs its header in front.
  relay_scratch.resize(protocol::kRelayHeaderSize + 65535);
  options.tun_mtu = std::clamp<std::size_t>(options.tun_mtu, 576, protocol::kMaxKeepalivePayload);
  probe_scratch.resize(protocol::kDataOverhead + options.tun_mtu);
  if (options.network_key) {
    outer = std::make_unique<session::OuterSeal>(*options.network_key);
  }
}

PeerState* Engine::Impl::findPeer(std::string_view name) {
  for (auto& p : peers) {
    if (p->name == name) {
      return p.get();
    }
  }
  return nullptr;
}

std::uint32_t Engine::Impl::newIndex() {
  for (;;) {
    std::uint32_t v = crypto::randomU32();
    if (v != 0 && by_index.find(v) == by_index.end() && rv_by_index.find(v) == rv_by_index.end()) {
      return v;
    }
  }
}

void Engine::Impl::start(Instant now) {
  for (auto& p : peers) {
    if (p->configured_endpoint && !p->pending && !p->session) {
      initiate(*p, now, Path::udp(*p->configured_endpoint), 0);
    }
  }
  setRendezvous(now, options.rendezvous);
}

void Engine::Impl::onDatagram(Instant now, const Path& from, std::span<std::uint8_t> datagram) {
  switch (protocol::classify(datagram)) {
    case protocol::PacketFamily::kHandshake:
      if (!refuseUnsealed(from)) {
        onHandshake(now, from, datagram);
      }
      return;
    case protocol::PacketFamily::kCookieReply:
      if (!refuseUnsealed(from)) {
        onCookieReply(now, from, datagram);
      }
      return;
    case protocol::PacketFamily::kSealed:
      onSealed(now, from, datagram);
      return;
    case protocol::PacketFamily::kData:
    case protocol::PacketFamily::kKeepalive:
      onData(now, from, datagram);
      return;
    case protocol::PacketFamily::kRendezvous:
      onControlPacket(now, from, datagram);
      return;
    case protocol::PacketFamily::kPunch:
      onPunch(now, from, datagram);
      return;
    case protocol::PacketFamily::kRelay:
      onRelayPacket(now, from, datagram);
      return;
    case protocol::PacketFamily::kStun:
      if (!onStunAnswer(now, from, datagram)) {
        drops.add(DropReason::kStunUnsupported);
      }
      return;
    default:
      drops.add(DropReason::kUnknownType);
      return;
  }
}

void Engine::Impl::onRelayPacket(Instant now, const Path& from, std::span<std::uint8_t> datagram) {
  // Only a rendezvous we hold a session with relays to us; the inner datagram is a peer's
  // handshake, data or keepalive, authenticated end to end like any other.
  RendezvousState* rv = rendezvousAt(from);
  auto channel = protocol::parseRelayChannel(datagram);
  if (rv == nullptr || !rv->session) {
    drops.add(DropReason::kRelayRejected);
    return;
  }
  if (!channel) {
    drops.add(DropReason::kMalformed);
    return;
  }
  Path via{from.transport, from.endpoint, *channel};
  auto inner = datagram.subspan(protocol::kRelayHeaderSize);
  switch (protocol::classify(inner)) {
    case protocol::PacketFamily::kHandshake:
      if (!refuseUnsealed(via)) {
        onHandshake(now, via, inner);
      }
      return;
    case protocol::PacketFamily::kSealed:
      onSealed(now, via, inner);
      return;
    case protocol::PacketFamily::kData:
    case protocol::PacketFamily::kKeepalive:
      onData(now, via, inner);
      return;
    default:
      drops.add(DropReason::kRelayRejected);
      return;
  }
}

void Engine::Impl::onTcpClosed(Instant now, const protocol::Endpoint& remote,
                               const std::string& reason) {
  Path tcp = Path::tcp(remote);
  for (auto& rv : rendezvous) {
    if (rv->transport == Transport::kTcp && rv->isAt(tcp)) {
      std::string why = "TCP connection to " + remote.toString() + " closed: " + reason;
      bool had_session = rv->session != nullptr;
      dropRendezvousPending(*rv);
      dropRendezvousSession(*rv, now, why);
      rv->last_error = why;
      if (!had_session) {
        // TCP never worked this time: the next attempt tries UDP first again (and comes back to
        // TCP after udp_timeout if UDP is still unanswered).
        rv->transport = Transport::kUdp;
      }
      rv->retry_at = now + rv->retry_backoff;
      rv->retry_backoff = std::min<Duration>(kMaxRetryBackoff, rv->retry_backoff * 2);
    }
  }
  for (auto& ptr : peers) {
    PeerState& peer = *ptr;
    for (auto& c : peer.candidates) {
      if (c.kind == PunchCandidate::Kind::kTcp && c.endpoint == remote && c.replies == 0) {
        c.state = PunchCandidate::State::kFailed;  // not probed again in this punch
      }
    }
    if (peer.pending && peer.pending_path == tcp) {
      failHandshake(peer, now, "TCP connection to " + remote.toString() + " closed: " + reason);
    }
    if (peer.rival && peer.rival_path == tcp) {
      dropRival(peer);
    }
    if (peer.direct && peer.direct->path == tcp) {
      peer.direct.reset();
      if (peer.session && peer.session->path == tcp) {
        std::string why = "direct TCP connection closed: " + reason;
        if (peer.relay_path) {
          moveSession(peer, now, *peer.relay_path, why);
        } else {
          peer.path_reason = why;
        }
      }
    }
    if (peer.newest_rx && *peer.newest_rx == tcp) {
      peer.newest_rx.reset();
    }
    if (peer.last_path && *peer.last_path == tcp) {
      peer.last_path.reset();
    }
  }
}

bool Engine::Impl::usesTcp(const Path& tcp) const {
  for (const auto& rv : rendezvous) {
    if (rv->transport == Transport::kTcp && rv->isAt(tcp)) {
      return true;
    }
  }
  for (const auto& ptr : peers) {
    const PeerState& p = *ptr;
    if ((p.session && p.session->path == tcp) || (p.pending && p.pending_path == tcp) ||
        (p.rival && p.rival_path == tcp) || (p.direct && p.direct->path == tcp)) {
      return true;
    }
    for (const auto& c : p.candidates) {
      if (c.path() == tcp && c.state == PunchCandidate::State::kProbing) {
        return true;
      }
    }
  }
  return false;
}

std::optional<Path> Engine::Impl::retryPath(const PeerState& peer, Instant now) const {
  if (peer.relay_path && fallbackDue(peer, now)) {
    return peer.relay_path;
  }
  auto best = peer.bestPath();
  if (best && best->relayed()) {
    return peer.relay_path;  // a relayed path is only good while its channel is bound
  }
  return best;
}

void Engine::Impl::scheduleRetry(PeerState& peer, Instant now) {
  if (peer.session || peer.pending || !retryPath(peer, now)) {
    return;
  }
  peer.retry_at = now + peer.retry_backoff;
  peer.retry_backoff = std::min(kMaxRetryBackoff, peer.retry_backoff * 2);
}

void Engine::Impl::dropSession(PeerState& peer, Instant now, std::string reason) {
  if (!peer.session) {
    return;
  }
  dropPrevious(peer);
  peer.rehandshaking = false;
  std::string old(toString(peer.session->path.kind()));
  by_index.erase(peer.session->local_index);
  peer.key_updates_done += peer.session->keys->keyUpdates();
  peer.session.reset();
  recordEvent(peer, now, old, "none", reason);
  peer.path_reason = reason;
  peer.last_error = std::move(reason);
  peer.punch_connected = false;
  peer.direct.reset();
  peer.newest_rx.reset();
  peer.roaming = false;
  peer.direct_retry_at = kNever;
  peer.want_direct_lookup = false;
  noteAttempt(peer, now);
  if (!peer.pending) {
    if (auto path = retryPath(peer, now)) {
      peer.retry_backoff = seconds(1);
      initiate(peer, now, *path, 0);
    }
  }
  // Ask the rendezvous again in parallel, unless a static endpoint is known to work.
  if (!rendezvous.empty() && needsIntroduction(peer, now) && peer.lookup_at == kNever) {
    peer.lookup_backoff = seconds(2);
    peer.lookup_at = now;
  }
}

void Engine::Impl::onTimer(Instant now) {
  servicePortReading(now);
  for (auto& rv : rendezvous) {
    serviceRendezvous(*rv, now);
  }
  for (auto& ptr : peers) {
    PeerState& peer = *ptr;
    if (peer.pending && peer.via_poke_at <= now) {
      peer.via_poke_at = kNever;
      if (!peer.pending->receivedPayload() && !peer.via_first.empty()) {
        // Once, whether or not the server acked it: a repeated first packet is what tells the
        // server its answer was lost (engine_handshake.cpp, onClientHello).
        sendOnPath(peer.pending_path, peer.via_first);
      }
    }
    if (peer.pending) {
      if (peer.pending->timedOut(now) && peer.early_hello == peer.pending->localIndex() &&
          !peer.pending->receivedAnything()) {
        dropPending(peer);  // the early ClientHello found nobody; the punch goes on deciding
        scheduleRetry(peer, now);
      } else if (peer.pending->timedOut(now)) {
        failHandshake(peer, now, "timed out after " +
                                     std::to_string(static_cast<long long>(
                                         toSeconds(options.handshake_timeout))) + " s");
      } else {
        servePending(peer, now);
      }
    }
    if (peer.rival) {
      if (peer.rival->timedOut(now)) {
        drops.add(DropReason::kHandshakeFailed);
        dropRival(peer);
      } else {
        serveRival(peer, now);
      }
    }
    serviceLifetime(peer, now);
    if (peer.session) {
      serviceSession(peer, now);
    }
    if (peer.session) {
      servicePaths(peer, now);
    }
    serviceRelay(peer, now);
    serviceFallback(peer, now);
    if (!peer.session && !peer.pending && peer.retry_at <= now) {
      peer.retry_at = kNever;
      if (auto path = retryPath(peer, now)) {
        initiate(peer, now, *path, 0);
      }
    }
    servicePunch(peer, now);
    releasePredictionSockets(peer, false);
    servicePeerLookup(peer, now);
  }
}

Instant Engine::Impl::nextDeadline() const {
  Instant next = port_reading.next_send;
  for (const auto& ptr : peers) {
    const PeerState& peer = *ptr;
    if (peer.pending) {
      next = std::min({next, peer.pending->nextDeadline(), peer.via_poke_at});
    }
    if (peer.rival) {
      next = std::min(next, peer.rival->nextDeadline());
    }
    next = std::min(next, lifetimeDeadline(peer));
    if (const PeerSession* s = peer.session.get()) {
      next = std::min(next, s->last_rx + options.dead_peer_timeout);
      next = std::min(next, s->next_probe_at);
      // A new active path starts its MTU search at once (syncPmtu).
      next = std::min(next, s->pmtu_path && *s->pmtu_path == s->path ? s->pmtu.nextDeadline()
                                                                     : Instant{});
      next = std::min(next, s->keys->prevExpiry());
      next = std::min(next, s->keys->nextUpdateCheck(options.rekey_interval));
      if (s->linger) {
        next = std::min({next, s->linger->nextDeadline(), s->linger_until});
      }
      if (peer.direct && s->path == peer.direct->path &&
          peer.direct->unanswered_since != kNever) {
        next = std::min(next, peer.direct->next_probe_at);
        if (peer.relay_path) {
          next = std::min(next, peer.direct->unanswered_since + options.demote_after);
        }
      }
      if (s->path.kind() != PathKind::kDirectUdp) {
        next = std::min(next, peer.direct_retry_at);
      }
      if (s->path.relayed() && peer.relay_unanswered_since != kNever) {
        next = std::min(next, peer.relay_next_probe_at);
      }
    }
    if (!peer.session && !peer.pending) {
      next = std::min(next, peer.retry_at);
    }
    if (!peer.session && options.relay && peer.attempt_started != kNever &&
        !peer.fallback_started) {
      next = std::min(next, peer.attempt_started + options.relay_after);
    }
    if (options.relay && peer.relay.next_at != kNever) {
      next = std::min(next, peer.relay.next_at);
    }
    next = std::min({next, peer.next_punch_at, peer.next_tcp_probe_at, peer.punch_until,
                     peer.lookup_at, peer.predict.next_at});
    for (const auto& intro : peer.intros) {
      next = std::min(next, intro.expires);
    }
  }
  for (const auto& rv : rendezvous) {
    if (rv->pending) {
      next = std::min(next, rv->pending->nextDeadline());
      if (rv->transport == Transport::kUdp && rv->spec.tcp && !rv->pending->receivedAnything()) {
        next = std::min(next, rv->pending->startedAt() + options.udp_timeout);
      }
    }
    if (rv->alt_race) {
      next = std::min(next, rv->alt_race->nextDeadline());
    } else if (rv->pending && !rv->session && !rv->on_alt && rv->spec.udp_alt &&
               rv->transport == Transport::kUdp && !rv->pending->receivedAnything()) {
      next = std::min(next, rv->pending->startedAt() + kFamilyRaceDelay);
    }
    if (rv->udp_trial) {
      next = std::min(next, rv->udp_trial->nextDeadline());
      if (!rv->udp_trial->receivedAnything()) {
        next = std::min(next, rv->udp_trial->startedAt() + options.udp_timeout);
      }
    }
    if (const PeerSession* s = rv->session.get()) {
      next = std::min({next, s->last_rx + options.dead_peer_timeout, s->next_probe_at,
                       s->keys->prevExpiry(), s->keys->nextUpdateCheck(options.rekey_interval),
                       rv->next_register_at, rv->cert_expires_at});
      if (s->linger) {
        next = std::min({next, s->linger->nextDeadline(), s->linger_until});
      }
      if (rv->transport == Transport::kUdp && rv->spec.tcp && rv->unanswered_since != kNever) {
        next = std::min({next, rv->next_probe_at, rv->unanswered_since + options.udp_timeout});
      }
      if (rv->transport == Transport::kTcp && !rv->udp_trial) {
        next = std::min(next, rv->udp_trial_at);
      }
    }
    if (!rv->session && !rv->pending) {
      next = std::min(next, rv->retry_at);
    }
  }
  return next;
}

Engine::Engine(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink)
    : impl_(std::make_unique<Impl>(tls, std::move(options), sink)) {}

Engine::~Engine() = default;

void Engine::start(Instant now) { impl_->start(now); }

void Engine::onDatagram(Instant now, const protocol::Endpoint& from,
                        std::span<std::uint8_t> datagram, Transport transport,
                        std::uint16_t local) {
  impl_->onDatagram(now, Path{transport, from, 0, transport == Transport::kUdp ? local : std::uint16_t{0}},
                    datagram);
}

std::optional<session::SealTicket> Engine::planOpen(const protocol::Endpoint& from,
                                                    std::span<const std::uint8_t> datagram) const {
  return impl_->planOpen(Path{Transport::kUdp, from, 0}, datagram);
}

void Engine::onDatagramOpened(Instant now, const protocol::Endpoint& from,
                              std::span<std::uint8_t> datagram, const session::PreOpened& pre) {
  impl_->pre_opened = &pre;
  impl_->onDatagram(now, Path{Transport::kUdp, from, 0}, datagram);
  impl_->pre_opened = nullptr;
}

void Engine::onTcpClosed(Instant now, const protocol::Endpoint& remote, const std::string& reason) {
  impl_->onTcpClosed(now, remote, reason);
}

bool Engine::usesTcp(const protocol::Endpoint& remote) const {
  return impl_->usesTcp(Path::tcp(remote));
}

void Engine::onTunPacket(Instant now, std::span<std::uint8_t> frame, std::size_t len) {
  impl_->sealing_tun = true;  // only these packets may be sealed later (EngineSink::sealsLater)
  impl_->onTun(now, frame, len);
  impl_->sealing_tun = false;
}

void Engine::onTimer(Instant now) { impl_->onTimer(now); }

void Engine::setRendezvous(Instant now, std::vector<RendezvousSpec> rendezvous) {
  impl_->setRendezvous(now, std::move(rendezvous));
}

void Engine::setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  impl_->setLocalCandidates(now, std::move(candidates));
}

void Engine::setMappedCandidate(Instant now, std::optional<protocol::Endpoint> mapped) {
  if (mapped == impl_->mapped_candidate) {
    return;
  }
  impl_->mapped_candidate = mapped;
  impl_->reRegisterAll(now);  // the REGISTER goes first, so the lookups below find it
  if (!mapped || impl_->rendezvous.empty()) {
    return;
  }
  // Peers not on a direct path hear of the new candidate now, not at their next direct retry.
  for (auto& p : impl_->peers) {
    if (p->session && p->session->path.kind() == PathKind::kDirectUdp) {
      continue;
    }
    p->announce_lookup = true;
    p->lookup_at = now;
  }
}

void Engine::setTcpCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  impl_->setTcpCandidates(now, std::move(candidates));
}

void Engine::setNatType(Instant now, protocol::NatType type) { impl_->setNatType(now, type); }
void Engine::setPortStride(Instant now, std::uint8_t stride) { impl_->setPortStride(now, stride); }

void Engine::onNetworkChange(Instant now) { impl_->onNetworkChange(now); }

void Engine::setKeepaliveInterval(Instant now, Duration interval) {
  impl_->options.keepalive_interval = interval;
  auto pull = [&](PeerSession* s) {
    if (s != nullptr) {
      s->next_probe_at = std::min(s->next_probe_at, now + interval);
    }
  };
  for (auto& p : impl_->peers) {
    pull(p->session.get());
  }
  for (auto& rv : impl_->rendezvous) {
    pull(rv->session.get());
  }
}

Instant Engine::nextDeadline() const { return impl_->nextDeadline(); }

EngineStatus Engine::status(Instant now) const { return impl_->status(now); }

}  // namespace vpn::client
