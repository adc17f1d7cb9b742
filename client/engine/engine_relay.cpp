// Relay channels (docs/paths.md rules 2, 3 and 9): binding one per peer at the registered
// rendezvous with the lowest RTT, keeping it bound (refreshing it, rebinding when its server's
// session goes), and the fallback: no session relay_after after the first attempt, so the
// handshake moves to (or starts on) the relay.
#include <algorithm>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

constexpr Duration kMaxRelayBackoff = seconds(60);

}  // namespace

bool Engine::Impl::fallbackDue(const PeerState& peer, Instant now) const {
  return options.relay && !peer.session && peer.attempt_started != kNever &&
         now >= peer.attempt_started + options.relay_after;
}

void Engine::Impl::noteAttempt(PeerState& peer, Instant now) {
  if (!peer.session && peer.attempt_started == kNever) {
    peer.attempt_started = now;
    peer.fallback_started = false;
    peer.fallback_done = false;
  }
}

RendezvousState* Engine::Impl::rendezvousById(const protocol::Endpoint& udp) {
  for (auto& rv : rendezvous) {
    if (rv->spec.udp == udp) {
      return rv.get();
    }
  }
  return nullptr;
}

const RendezvousState* Engine::Impl::rendezvousById(const protocol::Endpoint& udp) const {
  for (const auto& rv : rendezvous) {
    if (rv->spec.udp == udp) {
      return rv.get();
    }
  }
  return nullptr;
}

RendezvousState* Engine::Impl::bestRelayServer(const protocol::Endpoint* avoid) {
  RendezvousState* best = nullptr;
  RendezvousState* avoided = nullptr;
  auto rtt = [](const RendezvousState& rv) {
    return rv.session->srtt ? *rv.session->srtt : Duration(std::chrono::hours(1));
  };
  for (auto& rv : rendezvous) {
    if (!rv->session || !rv->registered) {
      continue;
    }
    if (avoid != nullptr && rv->spec.udp == *avoid) {
      avoided = rv.get();
      continue;
    }
    if (best == nullptr || rtt(*rv) < rtt(*best)) {
      best = rv.get();
    }
  }
  return best != nullptr ? best : avoided;
}

void Engine::Impl::serviceRelay(PeerState& peer, Instant now) {
  RelayBinding& b = peer.relay;
  if (!options.relay) {
    b.next_at = kNever;
    return;
  }
  bool wants = peer.session != nullptr || fallbackDue(peer, now);
  switch (b.state) {
    case RelayBinding::State::kNone:
      if (!wants) {
        b.next_at = kNever;
        return;
      }
      break;
    case RelayBinding::State::kRequested:
    case RelayBinding::State::kFailed:
    case RelayBinding::State::kBound:
      if (now < b.next_at) {
        return;
      }
      if (!wants && b.state != RelayBinding::State::kBound) {
        b.next_at = kNever;
        return;
      }
      break;
  }
  RendezvousState* rv = nullptr;
  if (b.state == RelayBinding::State::kBound) {
    rv = rendezvousById(b.rv);  // a refresh: the same server returns the same channel
    if (rv == nullptr || !rv->session || !rv->registered) {
      b.state = RelayBinding::State::kNone;
      b.channel = 0;
      refreshRelayPath(peer, now, "");
      rv = bestRelayServer(nullptr);
    }
  } else {
    rv = bestRelayServer(b.state == RelayBinding::State::kFailed ? &b.rv : nullptr);
  }
  if (rv == nullptr) {
    b.next_at = kNever;  // re-armed when a rendezvous registers us
    return;
  }
  protocol::RelayRequestMsg msg;
  msg.request_id = next_relay_request++;
  msg.peer_name = peer.name;
  b.request_id = msg.request_id;
  sendControl(*rv, now, msg);
  if (b.state == RelayBinding::State::kBound) {
    b.next_at = now + options.register_refresh;
    return;
  }
  b.state = RelayBinding::State::kRequested;
  b.rv = rv->spec.udp;
  b.next_at = now + b.backoff;
  b.backoff = std::min(kMaxRelayBackoff, b.backoff * 2);
}

void Engine::Impl::onRelayBound(RendezvousState& rv, Instant now,
                                const protocol::RelayBoundMsg& msg) {
  PeerState* peer = findPeer(msg.peer_name);
  if (peer == nullptr || msg.channel == 0) {
    drops.add(DropReason::kControlRejected);
    return;
  }
  if (!options.relay) {
    return;  // we never relay: we never consent, so the server forwards nothing for this pair
  }
  RelayBinding& b = peer->relay;
  if (msg.request_id == 0) {
    // An offer: the peer asks to relay with us through this server, which forwards only once we
    // ask too. We consent by asking (the answer binds the channel on both sides).
    if (b.state == RelayBinding::State::kBound && b.rv == rv.spec.udp &&
        b.channel == msg.channel) {
      return;  // live already
    }
    protocol::RelayRequestMsg req;
    req.request_id = next_relay_request++;
    req.peer_name = peer->name;
    b.request_id = req.request_id;
    if (b.state != RelayBinding::State::kBound || !(b.rv == rv.spec.udp)) {
      b.state = RelayBinding::State::kRequested;
      b.rv = rv.spec.udp;
      b.next_at = now + b.backoff;
    }
    sendControl(rv, now, req);
    return;
  }
  if (msg.request_id != b.request_id || !(b.rv == rv.spec.udp)) {
    return;  // an answer to a request we no longer wait for
  }
  bool changed = b.state != RelayBinding::State::kBound || !(b.rv == rv.spec.udp) ||
                 b.channel != msg.channel;
  b.state = RelayBinding::State::kBound;
  b.rv = rv.spec.udp;
  b.channel = msg.channel;
  b.failure.clear();
  b.backoff = seconds(1);
  b.next_at = now + options.register_refresh;
  if (changed) {
    refreshRelayPath(*peer, now,
                     "relay channel " + std::to_string(msg.channel) + " bound at " +
                         rv.path().endpoint.toString());
  }
  serviceFallback(*peer, now);
  if (peer->session) {
    servicePaths(*peer, now);  // a silent direct path may have waited for a relay to demote to
  }
}

void Engine::Impl::onRelayFailed(RendezvousState& rv, Instant now,
                                 const protocol::RelayFailedMsg& msg) {
  PeerState* peer = findPeer(msg.peer_name);
  if (peer == nullptr) {
    drops.add(DropReason::kControlRejected);
    return;
  }
  RelayBinding& b = peer->relay;
  if (!(b.rv == rv.spec.udp) || (msg.request_id != 0 && msg.request_id != b.request_id)) {
    return;  // about a request we no longer wait for
  }
  b.state = RelayBinding::State::kFailed;
  b.channel = 0;
  b.failure = std::string(protocol::toString(msg.reason)) + " (" + rv.path().endpoint.toString() + ")";
  b.next_at = now + b.backoff;
  b.backoff = std::min(kMaxRelayBackoff, b.backoff * 2);
  refreshRelayPath(*peer, now, "");
}

void Engine::Impl::refreshRelayPath(PeerState& peer, Instant now, const std::string& why) {
  std::optional<Path> path;
  if (peer.relay.state == RelayBinding::State::kBound) {
    const RendezvousState* rv = rendezvousById(peer.relay.rv);
    if (rv != nullptr && rv->session) {
      Path at = rv->path();
      path = Path{at.transport, at.endpoint, peer.relay.channel};
    }
  }
  if (path == peer.relay_path) {
    return;
  }
  peer.relay_path = path;
  if (!path) {
    return;
  }
  if (peer.session && peer.session->path.relayed() && !(peer.session->path == *path)) {
    moveSession(peer, now, *path, why.empty() ? "relay moved to " + path->toString() : why);
  }
  if (peer.pending && peer.pending_path.relayed() && !(peer.pending_path == *path)) {
    peer.pending_path = *path;
    peer.pending->retransmitNow(now);
  }
}

void Engine::Impl::onRelayServerLost(RendezvousState& rv, Instant now, const std::string& why) {
  for (auto& ptr : peers) {
    PeerState& peer = *ptr;
    if (peer.relay.state == RelayBinding::State::kNone || !(peer.relay.rv == rv.spec.udp)) {
      continue;
    }
    bool was_bound = peer.relay.state == RelayBinding::State::kBound;
    peer.relay.state = RelayBinding::State::kNone;
    peer.relay.channel = 0;
    peer.relay.backoff = seconds(1);
    peer.relay.next_at = now;  // bind again, through another server if one is registered
    peer.relay_path.reset();
    if (was_bound && peer.session && peer.session->path.relayed()) {
      peer.path_reason = "relay lost (" + why + "); binding a new one";
      recordEvent(peer, now, std::string(toString(peer.session->path.kind())),
                  std::string(toString(peer.session->path.kind())), peer.path_reason);
    }
  }
}

void Engine::Impl::serviceFallback(PeerState& peer, Instant now) {
  if (peer.session || peer.fallback_done || !fallbackDue(peer, now)) {
    return;
  }
  peer.fallback_started = true;
  if (!peer.relay_path) {
    return;  // serviceRelay asks; onRelayBound calls us again
  }
  peer.fallback_done = true;
  if (peer.pending) {
    if (peer.pending_path.relayed()) {
      return;
    }
    if (peer.pending->receivedAnything()) {
      return;  // the direct handshake is answering: let it finish
    }
  }
  // A fresh handshake on the relay (a server kicks at once; a client's new ClientHello replaces
  // any half-seen one at the peer).
  initiate(peer, now, *peer.relay_path, 0);
}

}  // namespace vpn::client
