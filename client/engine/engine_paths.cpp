// Paths (docs/paths.md rules 4 to 7): sending on a path, following the peer to a better or new
// path on an authenticated packet, demoting a silent direct path with hold-down, dual-sending
// while the newest packet came over a worse path, background direct retries while not on
// direct-udp, and roaming after a local network change. The per-packet functions here
// (sendOnPath, sendToPeer, secondaryPath, noteTx, onAuthenticated without a move) do not allocate.
#include <algorithm>
#include <cstdio>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {
namespace {

constexpr Duration kPathProbeGap = seconds(1);  // liveness probes on a silent direct path
constexpr Duration kValidationRetry = milliseconds(100);  // a path waiting for its sealed reply
constexpr Duration kFirstHold = seconds(5);
constexpr Duration kMaxHold = std::chrono::minutes(2);
constexpr Duration kHoldReset = std::chrono::minutes(10);

std::string secondsText(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", toSeconds(d));
  return buf;
}

std::string transportWord(const Path& p) { return p.transport == Transport::kUdp ? "UDP" : "TCP"; }

}  // namespace

std::span<const std::uint8_t> Engine::Impl::onPathForm(const Path& path,
                                                      std::span<const std::uint8_t> bytes) {
  if (!path.relayed()) {
    return bytes;
  }
  if (bytes.size() > relay_scratch.size() - protocol::kRelayHeaderSize) {
    drops.add(DropReason::kTxTooBig);
    return {};
  }
  protocol::writeRelayHeader(path.channel, relay_scratch);
  std::copy(bytes.begin(), bytes.end(),
            relay_scratch.begin() + static_cast<std::ptrdiff_t>(protocol::kRelayHeaderSize));
  return std::span<const std::uint8_t>(relay_scratch).first(protocol::kRelayHeaderSize +
                                                            bytes.size());
}

void Engine::Impl::sendOnPath(const Path& path, std::span<const std::uint8_t> bytes) {
  if (outer) {
    bytes = outerForm(bytes);
    if (bytes.empty()) {
      drops.add(DropReason::kTxTooBig);
      return;
    }
  }
  std::span<const std::uint8_t> out = onPathForm(path, bytes);
  if (out.empty()) {
    return;  // counted
  }
  if (path.transport == Transport::kUdp) {
    if (path.local != 0) {
      sink.sendDatagramVia(path.local, path.endpoint, out);  // no fragmentable variant there
    } else if (send_fragmentable) {
      sink.sendFragmentable(path.endpoint, out);
    } else {
      sink.sendDatagram(path.endpoint, out);
    }
  } else {
    sink.sendTcp(path.endpoint, out);
  }
}

const Path* Engine::Impl::secondaryPath(const PeerState& peer, Instant now) const {
  const Path& active = peer.session->path;
  // Rule 6: the peer's newest packet came over a worse path; it may have lost ours.
  if (peer.newest_rx && peer.newest_rx->rank() > active.rank() && !(*peer.newest_rx == active)) {
    return &*peer.newest_rx;
  }
  // Rule 7, and a direct path we have been waiting on: the standby relay carries a copy.
  if (active.direct() && peer.relay_path) {
    bool silent = peer.direct && peer.direct->path == active &&
                  peer.direct->unanswered_since != kNever &&
                  now - peer.direct->unanswered_since >= kPathProbeGap;
    if (peer.roaming || silent) {
      return &*peer.relay_path;
    }
  }
  return nullptr;
}

void Engine::Impl::noteTx(PeerState& peer, const Path& path, Instant now) {
  if (path.direct()) {
    if (peer.direct && peer.direct->path == path && peer.direct->unanswered_since == kNever) {
      peer.direct->unanswered_since = now;
      peer.direct->next_probe_at = now + kPathProbeGap;
    }
  } else if (peer.relay_unanswered_since == kNever && peer.session &&
             peer.session->path == path) {
    peer.relay_unanswered_since = now;
    peer.relay_next_probe_at = now + kPathProbeGap;
  }
}

void Engine::Impl::sendToPeer(PeerState& peer, Instant now, std::span<const std::uint8_t> packet,
                              bool expects_answer) {
  const Path& active = peer.session->path;
  sendOnPath(active, packet);
  if (expects_answer) {
    noteTx(peer, active, now);
  }
  if (const Path* extra = secondaryPath(peer, now)) {
    sendOnPath(*extra, packet);
  }
}

void Engine::Impl::onAuthenticated(PeerState& peer, Instant now, const Path& from, bool newest) {
  if (from.direct()) {
    if (peer.direct && peer.direct->path == from) {
      peer.direct->last_rx = now;
      peer.direct->unanswered_since = kNever;
      peer.direct->next_probe_at = kNever;
      peer.roaming = false;
    }
  } else {
    peer.relay_last_rx = now;
    peer.relay_unanswered_since = kNever;
    peer.relay_next_probe_at = kNever;
  }
  if (!newest) {
    return;
  }
  peer.newest_rx = from;
  PeerSession& s = *peer.session;
  if (from == s.path) {
    return;
  }
  if (from.direct()) {
    if (isHeld(peer, from, now)) {
      return;  // dual-sending covers it until the hold-down ends
    }
    std::string why;
    if (s.path.relayed()) {
      why = "upgraded: an authenticated packet arrived directly over " + transportWord(from) +
            " from " + from.endpoint.toString();
    } else if (from.rank() == s.path.rank()) {
      why = "the peer moved: an authenticated packet arrived from " + from.endpoint.toString();
    } else if (from.betterThan(s.path)) {
      why = "upgraded: an authenticated packet arrived over UDP from " + from.endpoint.toString();
    } else {
      return;  // a worse direct path (TCP while UDP works): dual-send instead
    }
    // Not before the path is validated (RFC 9000 section 8.2): a packet's source can be rewritten
    // on the way, so we move only when a sealed reply to our liveness request comes back on it.
    // Until then we send there that request alone, well inside 3x of what arrived on it.
    bool again = peer.validating && *peer.validating == from;
    if (!again || now - peer.validating_probe_at >= kValidationRetry) {
      // Asked again while packets keep coming from there: one request (or its reply) may be lost,
      // and another liveness request elsewhere replaces its token.
      validatePath(peer, now, from, std::move(why));
    }
    return;
  }
  if (s.path.relayed()) {
    moveSession(peer, now, from, "the peer now sends through " + from.endpoint.toString() +
                                     " channel " + std::to_string(from.channel));
  }
}

void Engine::Impl::onPathValidated(PeerState& peer, Instant now, const Path& path) {
  if (peer.session && peer.validating && *peer.validating == path) {
    moveSession(peer, now, path, peer.validating_reason + ", confirmed by a sealed reply");
  }
}

void Engine::Impl::moveSession(PeerState& peer, Instant now, const Path& to, std::string reason) {
  PeerSession& s = *peer.session;
  Path old = s.path;
  peer.validating.reset();
  if (old == to) {
    return;
  }
  s.path = to;
  peer.relay_unanswered_since = kNever;
  peer.relay_next_probe_at = kNever;
  if (to.direct()) {
    if (!peer.direct || !(peer.direct->path == to)) {
      if (peer.direct && peer.direct->path.transport == Transport::kTcp) {
        sink.closeTcp(peer.direct->path.endpoint);  // the better path replaces it
      }
      peer.direct = DirectLink{};
      peer.direct->path = to;
    }
    peer.direct->last_rx = now;
    peer.direct->unanswered_since = kNever;
    peer.direct->next_probe_at = kNever;
    peer.direct_since = now;
    if (to.kind() == PathKind::kDirectUdp) {
      peer.direct_retry_at = kNever;
      peer.direct_retry_backoff = options.direct_retry;
      peer.want_direct_lookup = false;
    } else {
      scheduleDirectRetry(peer, now, false);
    }
  } else {
    scheduleDirectRetry(peer, now, false);
  }
  peer.last_path = to;
  recordEvent(peer, now, std::string(toString(old.kind())), std::string(toString(to.kind())),
              reason);
  peer.path_reason = std::move(reason);
}

void Engine::Impl::recordEvent(PeerState& peer, Instant now, const std::string& from,
                               const std::string& to, const std::string& reason) {
  if (peer.history.size() >= PeerState::kMaxHistory) {
    peer.history.erase(peer.history.begin());
  }
  peer.history.push_back(PathEvent{now, from, to, reason});
}

bool Engine::Impl::isHeld(const PeerState& peer, const Path& path, Instant now) const {
  return peer.held && *peer.held == path && now < peer.held_until;
}

void Engine::Impl::holdDown(PeerState& peer, const Path& path, Instant now) {
  bool same = peer.held && *peer.held == path;
  if (!same || (peer.last_demotion != Instant{} && now - peer.last_demotion >= kHoldReset)) {
    peer.hold = Duration{};
  }
  peer.hold = peer.hold == Duration{} ? kFirstHold : std::min(kMaxHold, peer.hold * 2);
  peer.held = path;
  peer.held_until = now + peer.hold;
  peer.last_demotion = now;
}

void Engine::Impl::scheduleDirectRetry(PeerState& peer, Instant now, bool reset) {
  if (reset) {
    peer.direct_retry_backoff = options.direct_retry;
  }
  if (peer.direct_retry_at == kNever) {
    peer.direct_retry_at = now + peer.direct_retry_backoff;
  }
}

void Engine::Impl::pokeRelay(PeerState& peer, Instant now) {
  if (!peer.relay_path) {
    return;
  }
  RendezvousState* rv = rendezvousById(peer.relay.rv);
  if (rv == nullptr || !rv->session || now - rv->last_poke < kPathProbeGap) {
    return;
  }
  rv->last_poke = now;
  PeerSession& s = *rv->session;
  s.probe_token = next_probe_token++;
  s.probe_sent_at = now;
  s.probe_outstanding = true;
  sendRendezvousKeepalive(*rv, now, kLivenessRequest, s.probe_token);
}

void Engine::Impl::servicePaths(PeerState& peer, Instant now) {
  PeerSession& s = *peer.session;
  if (s.path.direct() && peer.direct && peer.direct->path == s.path &&
      peer.direct->unanswered_since != kNever) {
    Duration silent = now - peer.direct->unanswered_since;
    if (silent >= options.demote_after && peer.relay_path) {
      Path dead = s.path;
      holdDown(peer, dead, now);
      peer.direct->unanswered_since = kNever;
      peer.direct->next_probe_at = kNever;
      peer.roaming = false;
      moveSession(peer, now, *peer.relay_path,
                  "demoted: no authenticated packet on the " + std::string(toString(dead.kind())) +
                      " path to " + dead.endpoint.toString() + " for " + secondsText(silent) +
                      "; relayed through " + peer.relay_path->endpoint.toString() +
                      " (direct held down for " + secondsText(peer.hold) + ")");
    } else if (now >= peer.direct->next_probe_at) {
      Path direct = s.path;
      probePath(peer, now, &direct);
      peer.direct->next_probe_at = now + kPathProbeGap;
      pokeRelay(peer, now);  // the relay copy must get through if our address changed
    }
  }
  if (s.path.relayed() && peer.relay_unanswered_since != kNever &&
      now >= peer.relay_next_probe_at) {
    // A silent relay: probe it, and after demote_after ask another registered rendezvous for a
    // channel (rule 9); the session moves when it is bound.
    Path relayed = s.path;
    probePath(peer, now, &relayed);
    peer.relay_next_probe_at = now + kPathProbeGap;
    if (now - peer.relay_unanswered_since >= options.demote_after) {
      RendezvousState* other = bestRelayServer(&peer.relay.rv);
      if (other != nullptr && !(other->spec.udp == peer.relay.rv) && options.relay) {
        protocol::RelayRequestMsg msg;
        msg.request_id = next_relay_request++;
        msg.peer_name = peer.name;
        peer.relay.request_id = msg.request_id;
        sendControl(*other, now, msg);
        peer.path_reason = "no answer through " + relayed.endpoint.toString() + " for " +
                           secondsText(now - peer.relay_unanswered_since) +
                           "; asking " + other->path().endpoint.toString() + " for a channel";
      }
      peer.relay_unanswered_since = now;  // one request per demote_after of silence
    }
  }
  if (s.path.kind() != PathKind::kDirectUdp && now >= peer.direct_retry_at) {
    // A liveness probe on the last direct path (an answer moves us back at once), and a new
    // introduction with fresh candidates.
    if (peer.direct && !(peer.direct->path == s.path) && !isHeld(peer, peer.direct->path, now)) {
      Path direct = peer.direct->path;
      probePath(peer, now, &direct);
    }
    if (!punching(peer) && !rendezvous.empty()) {
      peer.want_direct_lookup = true;
      if (peer.lookup_at == kNever) {
        peer.lookup_at = now;
      }
    }
    peer.direct_retry_at = now + peer.direct_retry_backoff;
    peer.direct_retry_backoff = std::min(options.direct_retry_max, peer.direct_retry_backoff * 2);
  }
}

void Engine::Impl::onNetworkChange(Instant now) {
  reRegisterAll(now);
  for (auto& ptr : peers) {
    PeerState& peer = *ptr;
    if (!peer.session) {
      if (!peer.pending && peer.retry_at != kNever) {
        peer.retry_at = now;
        peer.retry_backoff = seconds(1);
      }
      continue;
    }
    // Send on the direct path and the standby relay until the direct path answers; the probe
    // makes it answer at once if it still works.
    peer.roaming = peer.session->path.direct();
    if (peer.direct && peer.direct->path == peer.session->path) {
      peer.direct->unanswered_since = kNever;  // the probe below starts the wait afresh
    }
    probePath(peer, now, nullptr);
    recordEvent(peer, now, std::string(toString(peer.session->path.kind())),
                std::string(toString(peer.session->path.kind())),
                "local network changed: probing the path" +
                    std::string(peer.roaming && peer.relay_path ? " and sending on the relay too"
                                                                : ""));
    // Our candidates changed: a fresh introduction finds the new direct path quickly.
    if (!rendezvous.empty() && !punching(peer)) {
      peer.want_direct_lookup = true;
      peer.lookup_at = now;
      peer.lookup_backoff = seconds(2);
    }
    peer.direct_retry_at = kNever;
    scheduleDirectRetry(peer, now, true);
  }
}

void Engine::Impl::onSessionPath(PeerState& peer, Instant now, const std::string& before) {
  PeerSession& s = *peer.session;
  peer.attempt_started = kNever;
  peer.fallback_started = false;
  if (options.relay && peer.relay.state == RelayBinding::State::kNone) {
    peer.relay.next_at = now;  // rule 3: a standby channel, bound in the background
  }
  peer.newest_rx = s.path;
  peer.roaming = false;
  std::string why;
  if (s.path.direct()) {
    peer.direct = DirectLink{};
    peer.direct->path = s.path;
    peer.direct->last_rx = now;
    peer.direct_since = now;
    peer.direct_retry_at = kNever;
    peer.direct_retry_backoff = options.direct_retry;
    peer.want_direct_lookup = false;
    if (s.path.transport == Transport::kTcp) {
      scheduleDirectRetry(peer, now, true);
    }
    {
      bool punched = std::any_of(peer.candidates.begin(), peer.candidates.end(),
                                 [&](const PunchCandidate& c) {
                                   return c.path() == s.path && c.replies > 0;
                                 });
      std::string ep = s.path.endpoint.toString();
      if (punched && s.path.transport == Transport::kTcp) {
        why = "direct TCP to the peer's tcp candidate " + ep + " (probe reply)";
      } else if (punched) {
        why = "direct UDP via hole punching (probe reply from " + ep + ")";
      } else if (peer.configured_endpoint && *peer.configured_endpoint == s.path.endpoint) {
        why = "direct " + transportWord(s.path) + " to the configured endpoint " + ep;
      } else {
        why = "direct " + transportWord(s.path) + ": the handshake went through with " + ep;
      }
    }
  } else {
    peer.direct_retry_at = kNever;
    scheduleDirectRetry(peer, now, true);
    why = "relayed through " + s.path.endpoint.toString() + ": " + relayReason(peer);
  }
  if (before != "none") {
    why = "new handshake: " + why;
  }
  recordEvent(peer, now, before, std::string(toString(s.path.kind())), why);
  peer.path_reason = std::move(why);
}

void Engine::Impl::refreshRelayReason(PeerState& peer) {
  if (!peer.session || !peer.session->path.relayed()) {
    return;
  }
  const std::string prefix = "relayed through " + peer.session->path.endpoint.toString() + ": ";
  if (peer.path_reason.rfind(prefix, 0) == 0) {
    peer.path_reason = prefix + relayReason(peer);
  }
}

std::string Engine::Impl::natSummary(const PeerState& peer) const {
  std::string ours(protocol::toString(nat_type));
  if (ours == "unknown" && peer.nat_type == "unknown") {
    return "";
  }
  if (ours == peer.nat_type) {
    return "both sides " + ours;
  }
  return "our NAT " + ours + ", the peer's " + peer.nat_type;
}

std::string Engine::Impl::relayReason(const PeerState& peer) const {
  std::size_t tried = 0;
  std::size_t answered = 0;
  for (const auto& c : peer.candidates) {
    tried += c.probes_sent > 0 ? 1u : 0u;
    answered += c.replies > 0 ? 1u : 0u;
  }
  std::string why;
  if (!peer.punch_summary.empty()) {
    why = peer.punch_summary;
  } else if (tried > 0 && answered == 0) {
    why = "no candidate answered (" + std::to_string(tried) + " tried)";
  } else if (peer.configured_endpoint && peer.direct_failed) {
    why = "the configured endpoint " + peer.configured_endpoint->toString() + " did not answer";
  } else if (tried == 0) {
    why = "no direct path found yet";
  } else {
    why = "the direct path did not work";
  }
  std::string nat = natSummary(peer);
  if (!nat.empty()) {
    why += ", " + nat;
  }
  bool cone_vs_symmetric =
      (nat_type == protocol::NatType::kSymmetric && protocol::isConeLike(peer.peer_nat)) ||
      (peer.peer_nat == protocol::NatType::kSymmetric && protocol::isConeLike(nat_type));
  if (cone_vs_symmetric && !options.port_prediction) {
    why += "; [nat] port_prediction = true on both peers may find a direct path";
  } else if (cone_vs_symmetric && peer.predict.role != PeerState::Prediction::Role::kNone &&
             !peer.predict.succeeded) {
    why += "; port prediction found no path";
  }
  bool both_symmetric = nat_type == protocol::NatType::kSymmetric &&
                        peer.peer_nat == protocol::NatType::kSymmetric;
  if (both_symmetric && !options.port_prediction) {
    why += "; if both NATs allocate ports in sequence, [nat] port_prediction = true on both "
           "peers may find a direct path";
  } else if (both_symmetric && port_stride == 0) {
    why += "; port prediction needs both NATs to allocate ports in sequence, and ours does not";
  } else if (both_symmetric && peer.predict.role == PeerState::Prediction::Role::kLockstep &&
             !peer.predict.succeeded) {
    why += "; port prediction (lockstep) found no path";
  }
  return why;
}

}  // namespace vpn::client
