#include "client/engine/engine.hpp"

#include <algorithm>
#include <stdexcept>

#include "client/engine/engine_impl.hpp"
#include "crypto/random.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::client {

bool TxQueue::push(std::span<const std::uint8_t> packet, const protocol::Endpoint& from) {
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
    peers.push_back(std::move(p));
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
      initiate(*p, now, *p->configured_endpoint, 0);
    }
  }
  setRendezvous(now, options.rendezvous);
}

void Engine::Impl::onDatagram(Instant now, const protocol::Endpoint& from,
                              std::span<std::uint8_t> datagram) {
  switch (protocol::classify(datagram)) {
    case protocol::PacketFamily::kHandshake:
      onHandshake(now, from, datagram);
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
    case protocol::PacketFamily::kStun:
      drops.add(DropReason::kStunUnsupported);
      return;
    default:
      drops.add(DropReason::kUnknownType);
      return;
  }
}

void Engine::Impl::scheduleRetry(PeerState& peer, Instant now) {
  if (peer.session || peer.pending || !peer.bestEndpoint()) {
    return;
  }
  peer.retry_at = now + peer.retry_backoff;
  peer.retry_backoff = std::min(kMaxRetryBackoff, peer.retry_backoff * 2);
}

void Engine::Impl::dropSession(PeerState& peer, Instant now, std::string reason) {
  if (!peer.session) {
    return;
  }
  by_index.erase(peer.session->local_index);
  peer.key_updates_done += peer.session->keys->keyUpdates();
  peer.session.reset();
  peer.last_error = std::move(reason);
  peer.punch_connected = false;
  if (!peer.pending) {
    if (auto ep = peer.bestEndpoint()) {
      peer.retry_backoff = seconds(1);
      initiate(peer, now, *ep, 0);
    }
  }
  // Ask the rendezvous again in parallel, unless a static endpoint is known to work.
  if (!rendezvous.empty() && needsIntroduction(peer, now) && peer.lookup_at == kNever) {
    peer.lookup_backoff = seconds(2);
    peer.lookup_at = now;
  }
}

void Engine::Impl::onTimer(Instant now) {
  for (auto& rv : rendezvous) {
    serviceRendezvous(*rv, now);
  }
  for (auto& ptr : peers) {
    PeerState& peer = *ptr;
    if (peer.pending) {
      if (peer.pending->timedOut(now)) {
        failHandshake(peer, now, "timed out after " +
                                     std::to_string(static_cast<long long>(
                                         toSeconds(options.handshake_timeout))) + " s");
      } else {
        servePending(peer, now);
      }
    }
    if (peer.session) {
      serviceSession(peer, now);
    }
    if (!peer.session && !peer.pending && peer.retry_at <= now) {
      peer.retry_at = kNever;
      if (auto ep = peer.bestEndpoint()) {
        initiate(peer, now, *ep, 0);
      }
    }
    servicePunch(peer, now);
    servicePeerLookup(peer, now);
  }
}

Instant Engine::Impl::nextDeadline() const {
  Instant next = kNever;
  for (const auto& ptr : peers) {
    const PeerState& peer = *ptr;
    if (peer.pending) {
      next = std::min(next, peer.pending->nextDeadline());
    }
    if (const PeerSession* s = peer.session.get()) {
      next = std::min(next, s->last_rx + options.dead_peer_timeout);
      next = std::min(next, s->next_probe_at);
      next = std::min(next, s->keys->prevExpiry());
      next = std::min(next, s->keys->nextUpdateCheck(options.rekey_interval));
      if (s->linger) {
        next = std::min({next, s->linger->nextDeadline(), s->linger_until});
      }
    }
    if (!peer.session && !peer.pending) {
      next = std::min(next, peer.retry_at);
    }
    next = std::min({next, peer.next_punch_at, peer.punch_until, peer.lookup_at});
    for (const auto& intro : peer.intros) {
      next = std::min(next, intro.expires);
    }
  }
  for (const auto& rv : rendezvous) {
    if (rv->pending) {
      next = std::min(next, rv->pending->nextDeadline());
    }
    if (const PeerSession* s = rv->session.get()) {
      next = std::min({next, s->last_rx + options.dead_peer_timeout, s->next_probe_at,
                       s->keys->prevExpiry(), s->keys->nextUpdateCheck(options.rekey_interval),
                       rv->next_register_at});
      if (s->linger) {
        next = std::min({next, s->linger->nextDeadline(), s->linger_until});
      }
    }
    if (!rv->session && !rv->pending) {
      next = std::min(next, rv->retry_at);
    }
  }
  return next;
}

EngineStatus Engine::Impl::status(Instant /*now*/) const {
  EngineStatus st;
  for (const auto& ptr : peers) {
    const PeerState& peer = *ptr;
    PeerStatus ps;
    ps.name = peer.name;
    if (peer.session) {
      ps.state = "established";
      ps.endpoint = peer.session->endpoint;
      ps.path = "direct-udp";
      ps.rtt = peer.session->srtt;
      ps.cipher = peer.cipher;
      ps.last_handshake = peer.last_handshake;
      ps.local_index = peer.session->local_index;
      ps.remote_index = peer.session->remote_index;
    } else {
      bool punching = peer.punch_until != kNever || peer.lookup_at != kNever;
      if (peer.pending || (!peer.unreachable && (peer.retry_at != kNever || punching))) {
        ps.state = "connecting";
      } else {
        ps.state = peer.unreachable ? "unreachable" : "idle";
      }
      ps.endpoint = peer.pending ? std::optional(peer.pending->endpoint()) : peer.bestEndpoint();
      ps.path = "none";
    }
    ps.addresses = peer.addresses;
    ps.tx_bytes = peer.tx_bytes;
    ps.rx_bytes = peer.rx_bytes;
    ps.tx_packets = peer.tx_packets;
    ps.rx_packets = peer.rx_packets;
    ps.handshakes = peer.handshakes;
    ps.key_updates = peer.key_updates_done + (peer.session ? peer.session->keys->keyUpdates() : 0);
    ps.last_error = peer.last_error;
    for (const auto& c : peer.candidates) {
      CandidateStatus cs;
      cs.endpoint = c.endpoint;
      switch (c.kind) {
        case PunchCandidate::Kind::kLocal: cs.kind = "local"; break;
        case PunchCandidate::Kind::kReflexive: cs.kind = "reflexive"; break;
        case PunchCandidate::Kind::kPeerReflexive: cs.kind = "peer-reflexive"; break;
        case PunchCandidate::Kind::kStatic: cs.kind = "static"; break;
      }
      switch (c.state) {
        case PunchCandidate::State::kUntried: cs.state = "untried"; break;
        case PunchCandidate::State::kProbing: cs.state = "probing"; break;
        case PunchCandidate::State::kSucceeded: cs.state = "succeeded"; break;
        case PunchCandidate::State::kFailed: cs.state = "failed"; break;
      }
      cs.probes_sent = c.probes_sent;
      cs.replies = c.replies;
      ps.candidates.push_back(std::move(cs));
    }
    if (ps.candidates.empty() && peer.configured_endpoint) {
      CandidateStatus cs;
      cs.endpoint = *peer.configured_endpoint;
      cs.kind = "static";
      if (peer.session && peer.session->endpoint == *peer.configured_endpoint) {
        cs.state = "succeeded";
      } else if (peer.direct_failed) {
        cs.state = "failed";
      } else {
        cs.state = peer.pending ? "probing" : "untried";
      }
      ps.candidates.push_back(std::move(cs));
    }
    st.peers.push_back(std::move(ps));
  }
  for (const auto& rv : rendezvous) {
    RendezvousStatus rs;
    rs.endpoint = rv->endpoint;
    rs.state = rv->session ? "established" : "connecting";
    rs.registered = rv->session && rv->registered;
    rs.reflexive = rv->reflexive;
    rs.rtt = rv->session ? rv->session->srtt : std::nullopt;
    rs.last_error = rv->last_error;
    st.rendezvous.push_back(std::move(rs));
  }
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    auto r = static_cast<DropReason>(i);
    st.drops.emplace_back(std::string(toString(r)), drops.get(r));
  }
  return st;
}

Engine::Engine(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink)
    : impl_(std::make_unique<Impl>(tls, std::move(options), sink)) {}

Engine::~Engine() = default;

void Engine::start(Instant now) { impl_->start(now); }

void Engine::onDatagram(Instant now, const protocol::Endpoint& from,
                        std::span<std::uint8_t> datagram) {
  impl_->onDatagram(now, from, datagram);
}

void Engine::onTunPacket(Instant now, std::span<std::uint8_t> frame, std::size_t len) {
  impl_->onTun(now, frame, len);
}

void Engine::onTimer(Instant now) { impl_->onTimer(now); }

void Engine::setRendezvous(Instant now, std::vector<protocol::Endpoint> rendezvous) {
  impl_->setRendezvous(now, std::move(rendezvous));
}

void Engine::setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  impl_->setLocalCandidates(now, std::move(candidates));
}

Instant Engine::nextDeadline() const { return impl_->nextDeadline(); }

EngineStatus Engine::status(Instant now) const { return impl_->status(now); }

}  // namespace vpn::client
