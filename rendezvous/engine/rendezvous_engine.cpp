// Dispatch by packet family, the periodic sweep (expiry, linger, key grace), timers and status.
// Session traffic (handshakes, sealed packets, relay) is served on the primary sockets and on TCP
// connections; the RFC 5780 alternates serve STUN only.
#include <algorithm>
#include <stdexcept>

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {

std::string_view toString(Drop d) {
  switch (d) {
    case Drop::kMalformed:
      return "malformed";
    case Drop::kUnknownFamily:
      return "unknown_family";
    case Drop::kUnknownIndex:
      return "unknown_index";
    case Drop::kNotEstablished:
      return "not_established";
    case Drop::kAuthFailed:
      return "auth_failed";
    case Drop::kReplay:
      return "replay";
    case Drop::kRateLimited:
      return "rate_limited";
    case Drop::kRateLimitedNetwork:
      return "rate_limited_network";
    case Drop::kHandshakeRateGlobal:
      return "handshake_rate_global";
    case Drop::kUnpadded:
      return "unpadded";
    case Drop::kBadCookie:
      return "bad_cookie";
    case Drop::kPendingFull:
      return "pending_full";
    case Drop::kHandshakeFailed:
      return "handshake_failed";
    case Drop::kNotPeerRole:
      return "not_peer_role";
    case Drop::kUnexpectedMessage:
      return "unexpected_message";
    case Drop::kDataNotRelayed:
      return "data_not_relayed";
    case Drop::kLookupRateLimited:
      return "lookup_rate_limited";
    case Drop::kStun:
      return "stun";
    case Drop::kStunRateLimited:
      return "stun_rate_limited";
    case Drop::kStunAmplification:
      return "stun_amplification";
    case Drop::kTxTooBig:
      return "tx_too_big";
    case Drop::kRelayUnknownSender:
      return "relay_unknown_sender";
    case Drop::kRelayUnknownChannel:
      return "relay_unknown_channel";
    case Drop::kRelayDisabled:
      return "relay_disabled";
    case Drop::kRelayRateLimited:
      return "relay_rate_limited";
    case Drop::kRelayRateLimitedReceiver:
      return "relay_rate_limited_receiver";
    case Drop::kRelayRateLimitedGlobal:
      return "relay_rate_limited_global";
    case Drop::kRelayNoConsent:
      return "relay_no_consent";
    case Drop::kRelayQuota:
      return "relay_quota";
    case Drop::kRelayBadInner:
      return "relay_bad_inner";
    case Drop::kRelayNameMismatch:
      return "relay_name_mismatch";
    case Drop::kRelayRequestRateLimited:
      return "relay_request_rate_limited";
    case Drop::kPeerUnreachable:
      return "peer_unreachable";
    case Drop::kNetworkKeyMismatch:
      return "network_key_mismatch";
    case Drop::kNetworkKeyMissing:
      return "network_key_missing";
    case Drop::kNetworkKeyUnexpected:
      return "network_key_unexpected";
    case Drop::kCount:
      break;
  }
  return "unknown";
}

RendezvousEngine::Impl::Impl(crypto::TlsContext& tls_ctx, RendezvousOptions opts,
                             RendezvousSink& out)
    : tls(tls_ctx),
      options(std::move(opts)),
      outer(options.network_key ? std::make_unique<session::OuterSeal>(*options.network_key)
                                : nullptr),
      sink(out, outer.get()),
      own_name(tls_ctx.identity().name),
      admission(session::AdmissionLimiter::Options{
          options.handshake_burst, options.handshake_per_second, options.handshake_network_burst,
          options.handshake_network_per_second, options.handshake_global_burst,
          options.handshake_global_per_second, options.rate_limit_sources}),
      stun_by_address(session::RateLimiter::Options{options.stun_burst, options.stun_per_second,
                                                    options.rate_limit_sources}),
      stun_excess_by_address(session::RateLimiter::Options{options.stun_excess_address_burst,
                                                           options.stun_excess_address_per_second,
                                                           options.rate_limit_sources}) {
  if (!tls_ctx.identity().rendezvous_role) {
    throw std::invalid_argument("certificate '" + own_name +
                                "' is not a rendezvous certificate; sign one with "
                                "`vpnpeer cert sign --rendezvous`");
  }
}

std::uint32_t RendezvousEngine::Impl::newIndex() {
  for (;;) {
    std::uint32_t i = crypto::randomU32();
    if (i != 0 && !registry.indexInUse(i) && pending.count(i) == 0) {
      return i;
    }
  }
}

void RendezvousEngine::Impl::onDatagram(Instant now, SocketId on, const protocol::Endpoint& from,
                                        std::span<std::uint8_t> bytes) {
  auto family = protocol::classify(bytes);
  if (family == protocol::PacketFamily::kSealed) {
    onOuterSealed(now, on, from, bytes);
    return;
  }
  if (family == protocol::PacketFamily::kStun) {
    if (!refuseUnsealed(from)) {
      onStun(now, on, from, bytes);
    }
    return;
  }
  if (on.role != SocketRole::kPrimary && on.role != SocketRole::kTcp) {
    drop(Drop::kUnknownFamily);  // the alternates are STUN-only
    return;
  }
  switch (family) {
    case protocol::PacketFamily::kHandshake:
      if (!refuseUnsealed(from)) {
        onHandshake(now, on, from, bytes);
      }
      return;
    case protocol::PacketFamily::kData:
    case protocol::PacketFamily::kKeepalive:
    case protocol::PacketFamily::kRendezvous:
      onSealed(now, on, from, bytes);
      return;
    case protocol::PacketFamily::kRelay:
      onRelay(now, on, from, bytes);
      return;
    case protocol::PacketFamily::kCookieReply:
      drop(Drop::kUnexpectedMessage);  // we never send a HELLO, so nobody answers one
      return;
    case protocol::PacketFamily::kStun:
    case protocol::PacketFamily::kSealed:
    case protocol::PacketFamily::kPunch:
    case protocol::PacketFamily::kUnknown:
      break;
  }
  drop(Drop::kUnknownFamily);
}

void RendezvousEngine::Impl::onConnectionClosed(Instant, std::uint32_t conn) {
  if (conn == 0) {
    return;
  }
  registry.closeConnection(conn);
  std::vector<std::uint32_t> gone;
  for (const auto& [index, p] : pending) {
    if (p.socket.role == SocketRole::kTcp && p.socket.conn == conn) {
      gone.push_back(index);
    }
  }
  for (std::uint32_t index : gone) {
    erasePending(index);  // it cannot finish: its packets had only that connection
  }
}

Instant RendezvousEngine::Impl::certificateExpiry(const crypto::CertIdentity& id,
                                                  Instant now) const {
  auto wall = options.wall_clock ? options.wall_clock() : std::chrono::system_clock::now();
  auto left = id.not_after - wall;
  if (left > std::chrono::hours(24 * 365 * 100)) {
    return kNever;
  }
  return now + std::chrono::duration_cast<Duration>(left);
}

std::size_t RendezvousEngine::Impl::closeBlocked(Instant now) {
  std::vector<PeerRecord*> gone;
  registry.forEach([&](PeerRecord& r) {
    if (tls.isBlocked(r.cert_fingerprint) || now >= r.cert_expires_at) {
      gone.push_back(&r);
    }
  });
  for (PeerRecord* r : gone) {
    LOG_INFO("closed the session of '%s': its certificate %s", r->name.c_str(),
             now >= r->cert_expires_at ? "has expired" : "is on the blocklist");
    registry.remove(*r);
  }
  return gone.size();
}

void RendezvousEngine::Impl::sweep(Instant now) {
  Duration ttl = (now < told_refresh_until ? std::max(options.refresh, told_refresh)
                                           : options.refresh) * kExpiryRefreshes;
  counters.expired += registry.expire(now, ttl);
  counters.expired += closeBlocked(now);  // certificates that expired meanwhile
  registry.forEach([&](PeerRecord& r) {
    if (r.linger && now >= r.linger_until) {
      r.linger.reset();  // the bulk of a session's memory: TLS state and channel buffers
      r.linger_until = kNever;
    }
    if (r.keys) {
      r.keys->expire(now);
    }
    if (r.via_hello && now - r.via_hello->at > kHelloFresh) {
      r.via_hello.reset();
    }
  });
  if (now >= next_relay_sweep) {
    sweepRelay(now);
    next_relay_sweep = now + kRelaySweepInterval;
  }
  next_sweep = registry.size() == 0 ? kNever : now + kSweepInterval;
}

void RendezvousEngine::Impl::onTimer(Instant now) {
  std::vector<std::uint32_t> due;
  for (auto& [index, p] : pending) {
    if (p.hs->nextDeadline() <= now) {
      due.push_back(index);
    }
  }
  for (std::uint32_t index : due) {
    auto it = pending.find(index);
    if (it == pending.end()) {
      continue;
    }
    if (it->second.hs->timedOut(now)) {
      drop(Drop::kHandshakeFailed);
      erasePending(index);
      continue;
    }
    servePending(now, index);
  }
  if (now >= next_sweep) {
    sweep(now);
  }
}

Instant RendezvousEngine::Impl::nextDeadline() const {
  Instant next = next_sweep;
  for (const auto& [index, p] : pending) {
    next = std::min(next, p.hs->nextDeadline());
  }
  return next;
}

RendezvousStatus RendezvousEngine::Impl::status(Instant now, bool with_peers) const {
  RendezvousStatus st;
  st.sessions = registry.size();
  st.pending_handshakes = pending.size();
  st.counters = counters;
  if (outer) {
    st.network_key = std::string(outer->sourceName());
    st.network_key_fingerprint = outer->fingerprint();
  }
  registry.forEach([&](const PeerRecord& r) {
    if (r.linger) {
      st.lingering_handshakes++;
    }
    st.sessions_tcp += r.overTcp() ? 1u : 0u;
    st.registered += r.registered() ? 1u : 0u;
    st.relay_channels += r.channels.size();  // each channel is in both records: halved below
    if (!with_peers || !r.registered()) {
      return;
    }
    RegisteredPeerStatus p;
    p.name = r.name;
    p.endpoint = r.endpoint;
    if (r.alt_endpoint && now - r.alt_seen < 3 * options.refresh) {
      p.also_at = r.alt_endpoint;
    }
    p.tcp = r.overTcp();
    p.unreachable = r.unreachable;
    p.nat_type = r.nat_type;
    p.relay_channels = r.channels.size();
    p.relayed_bytes = r.relayed_bytes;
    p.candidates = r.candidates;
    p.addresses = r.addresses;
    p.age_s = toSeconds(now - *r.registered_at);
    p.idle_s = toSeconds(now - r.last_rx);
    st.peers.push_back(std::move(p));
  });
  st.relay_channels /= 2;
  std::sort(st.peers.begin(), st.peers.end(),
            [](const RegisteredPeerStatus& a, const RegisteredPeerStatus& b) {
              return a.name < b.name;
            });
  for (std::size_t i = 0; i < drops.size(); ++i) {
    if (drops[i] != 0) {
      st.drops.emplace_back(std::string(toString(static_cast<Drop>(i))), drops[i]);
    }
  }
  return st;
}

RendezvousEngine::RendezvousEngine(crypto::TlsContext& tls, RendezvousOptions options,
                                   RendezvousSink& sink)
    : impl_(std::make_unique<Impl>(tls, std::move(options), sink)) {}

RendezvousEngine::~RendezvousEngine() = default;

void RendezvousEngine::onDatagram(Instant now, SocketId on, const protocol::Endpoint& from,
                                  std::span<std::uint8_t> bytes) {
  impl_->onDatagram(now, on, from, bytes);
}

void RendezvousEngine::onConnectionClosed(Instant now, std::uint32_t conn) {
  impl_->onConnectionClosed(now, conn);
}

void RendezvousEngine::onTimer(Instant now) {
  impl_->onTimer(now);
}

bool RendezvousEngine::connectionInUse(std::uint32_t conn) const {
  if (impl_->registry.onConnection(conn)) {
    return true;
  }
  return std::any_of(impl_->pending.begin(), impl_->pending.end(), [&](const auto& e) {
    return e.second.socket.role == SocketRole::kTcp && e.second.socket.conn == conn;
  });
}

Instant RendezvousEngine::nextDeadline() const {
  return impl_->nextDeadline();
}

std::size_t RendezvousEngine::closeBlocked(Instant now) { return impl_->closeBlocked(now); }

void RendezvousEngine::setLimits(Instant now, const RendezvousOptions& fresh) {
  RendezvousOptions& o = impl_->options;
  if (fresh.refresh < o.refresh) {
    // Peers re-register at the old pace until their next REGISTERED tells them the new one.
    impl_->told_refresh = o.refresh;
    impl_->told_refresh_until = now + o.refresh * Impl::kExpiryRefreshes;
  }
  o.refresh = fresh.refresh;
  o.max_pending_handshakes = fresh.max_pending_handshakes;
  o.handshake_burst = fresh.handshake_burst;
  o.handshake_per_second = fresh.handshake_per_second;
  o.handshake_network_burst = fresh.handshake_network_burst;
  o.handshake_network_per_second = fresh.handshake_network_per_second;
  o.handshake_global_burst = fresh.handshake_global_burst;
  o.handshake_global_per_second = fresh.handshake_global_per_second;
  o.cookieless_burst = fresh.cookieless_burst;
  o.cookieless_per_second = fresh.cookieless_per_second;
  o.lookup_burst = fresh.lookup_burst;
  o.lookup_per_second = fresh.lookup_per_second;
  o.relay = fresh.relay;
  o.relay_max_channels = fresh.relay_max_channels;
  o.relay_rate = fresh.relay_rate;
  o.relay_burst = fresh.relay_burst;
  o.relay_max_bytes = fresh.relay_max_bytes;
  o.relay_global_rate = fresh.relay_global_rate;
  o.relay_global_burst = fresh.relay_global_burst;
  impl_->admission.setOptions(session::AdmissionLimiter::Options{
      o.handshake_burst, o.handshake_per_second, o.handshake_network_burst,
      o.handshake_network_per_second, o.handshake_global_burst, o.handshake_global_per_second,
      o.rate_limit_sources});
}

RendezvousStatus RendezvousEngine::status(Instant now, bool with_peers) const {
  return impl_->status(now, with_peers);
}

}  // namespace vpn::rendezvous
