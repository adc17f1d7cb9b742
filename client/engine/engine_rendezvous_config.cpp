// Configuring our side of the rendezvous sessions: which servers (setRendezvous), what we
// announce there (local and TCP candidates, NAT type) and re-registering when any of it changes.
// The sessions themselves are in engine_rendezvous.cpp.
#include <algorithm>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {

void Engine::Impl::setRendezvous(Instant now, std::vector<RendezvousSpec> specs) {
  // One entry per UDP address (the server's identity); the first one wins.
  std::vector<RendezvousSpec> unique;
  for (auto& s : specs) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const RendezvousSpec& u) { return u.udp == s.udp; })) {
      unique.push_back(std::move(s));
    }
  }
  for (auto it = rendezvous.begin(); it != rendezvous.end();) {
    auto listed = std::find_if(unique.begin(), unique.end(),
                               [&](const RendezvousSpec& u) { return u.udp == (*it)->spec.udp; });
    if (listed == unique.end()) {
      RendezvousState& rv = **it;
      dropRendezvousPending(rv);
      dropRendezvousSession(rv, now, "rendezvous removed from the configuration");
      if (rv.udp_trial) {
        rv_by_index.erase(rv.udp_trial->localIndex());
      }
      if (rv.transport == Transport::kTcp && rv.spec.tcp) {
        sink.closeTcp(*rv.spec.tcp);
      }
      it = rendezvous.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& spec : unique) {
    RendezvousState* rv = rendezvousById(spec.udp);
    if (rv == nullptr) {
      auto fresh = std::make_unique<RendezvousState>();
      fresh->spec = spec;
      rendezvous.push_back(std::move(fresh));
      connectRendezvous(*rendezvous.back(), now);
      continue;
    }
    if (rv->spec == spec) {
      continue;
    }
    const bool on_tcp = rv->transport == Transport::kTcp;
    const bool tcp_moved = on_tcp && rv->spec.tcp != spec.tcp;
    // A new pin must be checked by a new handshake; the session proved only the old one.
    const bool pin_changed = rv->spec.name != spec.name;
    // On the alternate address, which is no longer (or no longer that): start over.
    const bool alt_moved = rv->on_alt && rv->spec.udp_alt != spec.udp_alt;
    if (tcp_moved && rv->spec.tcp) {
      sink.closeTcp(*rv->spec.tcp);
    }
    rv->spec = spec;
    if (tcp_moved || pin_changed || alt_moved) {
      if (tcp_moved) {  // reconnect on the new TCP address, or over UDP if there is none now
        rv->transport = spec.tcp ? Transport::kTcp : Transport::kUdp;
      }
      dropRendezvousPending(*rv);
      dropRendezvousSession(*rv, now,
                            pin_changed  ? "rendezvous name pin changed"
                            : alt_moved  ? "rendezvous address of the other family changed"
                                         : "rendezvous TCP address changed");
      connectRendezvous(*rv, now);
    }
  }
  options.rendezvous = std::move(unique);
}

void Engine::Impl::reRegisterAll(Instant now) {
  for (auto& rv : rendezvous) {
    if (rv->session) {
      sendRegister(*rv, now);
    }
  }
}

void Engine::Impl::setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  if (candidates.size() > protocol::kMaxCandidates) {
    candidates.resize(protocol::kMaxCandidates);
  }
  if (candidates == local_candidates) {
    return;
  }
  local_candidates = std::move(candidates);
  reRegisterAll(now);
}

void Engine::Impl::setTcpCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  if (candidates.size() > protocol::kMaxCandidates) {
    candidates.resize(protocol::kMaxCandidates);
  }
  if (candidates == tcp_candidates) {
    return;
  }
  tcp_candidates = std::move(candidates);
  reRegisterAll(now);
}

void Engine::Impl::setNatType(Instant now, protocol::NatType type) {
  if (type == nat_type) {
    return;
  }
  nat_type = type;
  for (auto& p : peers) {
    refreshRelayReason(*p);
  }
  reRegisterAll(now);  // the REGISTER goes first, so the lookups below see the new type
  if (!options.port_prediction || type == protocol::NatType::kUnknown || rendezvous.empty()) {
    return;
  }
  // Port prediction depends on both NAT types: peers without a direct path are introduced
  // again now rather than at their next direct retry.
  for (auto& p : peers) {
    if (p->session && p->session->path.kind() == PathKind::kDirectUdp) {
      continue;
    }
    p->announce_lookup = true;
    p->lookup_at = now;
  }
}

}  // namespace vpn::client
