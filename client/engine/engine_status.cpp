// Engine::status(): a snapshot in plain values for `vpnpeer status` and `explain`.
#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

std::string candidateKind(PunchCandidate::Kind k) {
  switch (k) {
    case PunchCandidate::Kind::kLocal: return "local";
    case PunchCandidate::Kind::kReflexive: return "reflexive";
    case PunchCandidate::Kind::kPeerReflexive: return "peer-reflexive";
    case PunchCandidate::Kind::kMapped: return "mapped";
    case PunchCandidate::Kind::kStatic: return "static";
    case PunchCandidate::Kind::kTcp: return "tcp";
  }
  return "unknown";
}

std::string candidateState(PunchCandidate::State s) {
  switch (s) {
    case PunchCandidate::State::kUntried: return "untried";
    case PunchCandidate::State::kProbing: return "probing";
    case PunchCandidate::State::kSucceeded: return "succeeded";
    case PunchCandidate::State::kFailed: return "failed";
  }
  return "unknown";
}

}  // namespace

EngineStatus Engine::Impl::status(Instant now) const {
  EngineStatus st;
  st.nat_type = std::string(protocol::toString(nat_type));
  st.nat_port_stride = port_stride;
  st.port_readings = port_reading.taken;
  st.port_readings_failed = port_reading.failed;
  for (const auto& ptr : peers) {
    const PeerState& peer = *ptr;
    PeerStatus ps;
    ps.name = peer.name;
    const RelayBinding& b = peer.relay;
    bool relay_in_progress = options.relay && (b.state == RelayBinding::State::kRequested ||
                                               b.state == RelayBinding::State::kBound ||
                                               (b.state == RelayBinding::State::kFailed &&
                                                b.next_at != kNever));
    if (peer.session) {
      const PeerSession& s = *peer.session;
      ps.state = "established";
      ps.endpoint = s.path.endpoint;
      ps.path = std::string(toString(s.path.kind()));
      ps.rtt = s.srtt;
      if (s.path.direct() && peer.direct && peer.direct->path == s.path && peer.direct->srtt) {
        ps.rtt = peer.direct->srtt;
      } else if (s.path.relayed() && peer.relay_srtt) {
        ps.rtt = peer.relay_srtt;
      }
      if (s.pmtu_path && *s.pmtu_path == s.path) {
        ps.mtu = s.pmtu.mtu();
        ps.pmtu_state = std::string(s.pmtu.stateName());
        ps.pmtu_proven = s.pmtu.proven();
      } else {
        ps.mtu = options.tun_mtu;
      }
      ps.cipher = peer.cipher;
      ps.last_handshake = peer.last_handshake;
      ps.local_index = s.local_index;
      ps.remote_index = s.remote_index;
      if (s.path.kind() != PathKind::kDirectUdp && peer.direct_retry_at != kNever) {
        ps.direct_retry_at = peer.direct_retry_at;
      }
    } else {
      bool punch = peer.punch_until != kNever || peer.lookup_at != kNever;
      if (peer.pending || (!peer.unreachable && (peer.retry_at != kNever || punch)) ||
          (fallbackDue(peer, now) && relay_in_progress)) {
        ps.state = "connecting";
      } else {
        ps.state = peer.unreachable ? "unreachable" : "idle";
      }
      if (peer.pending && !peer.pending_unaimed) {
        ps.endpoint = peer.pending_path.endpoint;
      } else if (auto best = peer.bestPath()) {
        ps.endpoint = best->endpoint;
      }
      ps.path = "none";
    }
    ps.path_reason = peer.path_reason;
    if (!peer.session && ps.path_reason.empty() && !peer.last_error.empty()) {
      ps.path_reason = peer.last_error;
    }
    ps.nat_type = peer.nat_type;
    if (const auto& pr = peer.predict; pr.role != PeerState::Prediction::Role::kNone) {
      std::string probed = std::to_string(pr.sent) + " of " + std::to_string(pr.ports.size()) +
                           " ports of " + pr.target.address().toString() + " probed";
      switch (pr.role) {
        case PeerState::Prediction::Role::kOpener:
          ps.prediction =
              "opener: " + std::to_string(pr.locals.size()) + " prediction sockets open";
          break;
        case PeerState::Prediction::Role::kSprayer:
          ps.prediction = "sprayer: " + probed;
          break;
        default:
          ps.prediction = "lockstep: " + probed + " (from port " +
                          std::to_string(pr.ports.empty() ? 0 : pr.ports.front()) + ")";
          break;
      }
      ps.prediction += pr.succeeded ? ", a predicted path answered" : ", no answer";
    }
    ps.history = peer.history;
    switch (b.state) {
      case RelayBinding::State::kNone:
        ps.relay_state = "none";
        break;
      case RelayBinding::State::kRequested:
        ps.relay_state = "requested";
        break;
      case RelayBinding::State::kBound:
        ps.relay_state = "bound";
        break;
      case RelayBinding::State::kFailed:
        ps.relay_state = "failed: " + b.failure;
        break;
    }
    if (b.state != RelayBinding::State::kNone) {
      const RendezvousState* rv = rendezvousById(b.rv);
      ps.relay = rv != nullptr ? rv->path().endpoint : b.rv;
      ps.relay_channel = b.state == RelayBinding::State::kBound ? b.channel : 0;
    }
    ps.addresses = peer.addresses;
    ps.groups = peer.groups;
    ps.cert_fingerprint = peer.cert_fingerprint;
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
      cs.kind = candidateKind(c.kind);
      // The session's own path counts as succeeded however it was found (a configured endpoint
      // that an introduction also announced, say).
      bool in_use = peer.session && peer.session->path == c.path();
      cs.state = in_use ? "succeeded" : candidateState(c.state);
      cs.probes_sent = c.probes_sent;
      cs.replies = c.replies;
      ps.candidates.push_back(std::move(cs));
    }
    if (ps.candidates.empty() && peer.configured_endpoint) {
      CandidateStatus cs;
      cs.endpoint = *peer.configured_endpoint;
      cs.kind = "static";
      if (peer.session && peer.session->path == Path::udp(*peer.configured_endpoint)) {
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
    rs.endpoint = rv->spec.udp;  // its identity; `transport` says how we reach it
    rs.state = rv->session ? "established" : "connecting";
    rs.registered = rv->session && rv->registered;
    rs.reflexive = rv->reflexive;
    rs.also_at = rv->spec.udp_alt;
    if (rv->on_alt && rv->spec.udp_alt) {
      rs.via = rv->spec.udp_alt;
      rs.via_reason = rv->family_note;
    }
    if (rv->reflexive_alt && rv->registered && now - rv->reflexive_alt_at < 3 * rv->refresh) {
      rs.reflexive_alt = rv->reflexive_alt;
    }
    rs.rtt = rv->session ? rv->session->srtt : std::nullopt;
    rs.last_error = rv->last_error;
    rs.transport = std::string(toString(rv->transport));
    rs.tcp = rv->spec.tcp;
    for (const auto& p : peers) {
      if (p->relay.state == RelayBinding::State::kBound && p->relay.rv == rv->spec.udp) {
        rs.relay_channels++;
      }
    }
    st.rendezvous.push_back(std::move(rs));
  }
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    auto r = static_cast<DropReason>(i);
    st.drops.emplace_back(std::string(toString(r)), drops.get(r));
  }
  st.cookie_replies = cookie_replies;
  st.hellos_via_sent = hellos_via_sent;
  st.hellos_from_received = hellos_from_received;
  st.handshake_attempts = pendingCount();
  st.candidates_rejected = candidates_rejected;
  if (outer) {
    st.network_key = std::string(outer->sourceName());
    st.network_key_fingerprint = outer->fingerprint();
  }
  return st;
}

}  // namespace vpn::client
