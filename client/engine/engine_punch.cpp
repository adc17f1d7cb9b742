// Introductions and hole punching. A peer we cannot reach directly (or, while relayed, a peer we
// retry a direct path with) is looked up at every registered rendezvous; on INTRODUCE both sides
// probe each other's candidates (local first, then reflexive, then peer-reflexive: addresses the
// other side's probes came from, which is what makes a symmetric NAT on one side work). A valid
// probe REPLY proves a path both ways: without a session the first one starts the TLS handshake
// there (the client sends ClientHello, the server its KICK); with a session it moves the session
// there (no new handshake). Candidates of kind tcp are probed over a TCP connection once the UDP
// candidates have had their fast phase without an answer, by the side that connects.
// Probes are authenticated with the introduction's punch key; the handshake that follows
// authenticates the peers end to end.
#include <algorithm>

#include "client/engine/engine_impl.hpp"
#include "crypto/hmac.hpp"

namespace vpn::client {
namespace {

constexpr Duration kFastProbeInterval = milliseconds(100);
constexpr Duration kFastProbePhase = seconds(1);
constexpr Duration kSlowProbeInterval = milliseconds(500);
constexpr Duration kTcpProbeInterval = seconds(1);
constexpr Duration kIntroLinger = seconds(5);  // keep answering probes after punching stops
constexpr Duration kLookupAnswerWindow = seconds(60);  // an INTRODUCE may answer a lookup this old

int rank(PunchCandidate::Kind k) {
  switch (k) {
    case PunchCandidate::Kind::kLocal: return 0;
    case PunchCandidate::Kind::kStatic: return 1;
    case PunchCandidate::Kind::kMapped: return 2;  // the router forwards it: open to anyone
    case PunchCandidate::Kind::kReflexive: return 3;
    case PunchCandidate::Kind::kPeerReflexive: return 4;
    case PunchCandidate::Kind::kTcp: return 5;
  }
  return 6;
}

void computeTag(const Introduction& intro, std::span<const std::uint8_t> signed_bytes,
                std::span<std::uint8_t, protocol::kProbeTagSize> tag) {
  std::array<std::uint8_t, 32> mac{};
  crypto::hmacSha256(intro.key, signed_bytes, mac);
  std::copy_n(mac.begin(), tag.size(), tag.begin());
}

}  // namespace

bool Engine::Impl::punching(const PeerState& peer) const {
  return peer.punch_until != kNever &&
         (!(peer.session && peer.session->path.kind() == PathKind::kDirectUdp &&
            peer.direct_since >= peer.punch_started) ||
          wantsIpv6(peer));
}

bool Engine::Impl::wantsIpv6(const PeerState& peer) const {
  if (!peer.session || peer.session->path.kind() != PathKind::kDirectUdp ||
      !peer.session->path.endpoint.address().isV4()) {
    return false;
  }
  return std::any_of(peer.candidates.begin(), peer.candidates.end(), [](const PunchCandidate& c) {
    return c.kind != PunchCandidate::Kind::kTcp && c.endpoint.address().isV6() &&
           c.state != PunchCandidate::State::kFailed;
  });
}

bool Engine::Impl::weConnectTcp(const PeerState& peer) const {
  bool peer_has = std::any_of(peer.candidates.begin(), peer.candidates.end(),
                              [](const PunchCandidate& c) {
                                return c.kind == PunchCandidate::Kind::kTcp;
                              });
  return peer_has && (tcp_candidates.empty() || peer.we_are_client);
}

PunchCandidate* Engine::Impl::addCandidate(PeerState& peer, const protocol::Endpoint& ep,
                                           PunchCandidate::Kind kind) {
  bool tcp = kind == PunchCandidate::Kind::kTcp;
  for (auto& c : peer.candidates) {
    if (c.endpoint == ep && (c.kind == PunchCandidate::Kind::kTcp) == tcp) {
      if (rank(kind) < rank(c.kind)) {
        c.kind = kind;
      }
      return &c;
    }
  }
  if (peer.candidates.size() >= PeerState::kMaxPunchCandidates) {
    return nullptr;
  }
  PunchCandidate c;
  c.endpoint = ep;
  c.kind = kind;
  // Best kind first; within a kind, IPv6 before IPv4 (RFC 8421).
  auto order = [](PunchCandidate::Kind k, const protocol::Endpoint& e) {
    return rank(k) * 2 + (e.address().isV4() ? 1 : 0);
  };
  auto pos = std::find_if(peer.candidates.begin(), peer.candidates.end(),
                          [&](const PunchCandidate& o) {
                            return order(o.kind, o.endpoint) > order(kind, ep);
                          });
  return &*peer.candidates.insert(pos, c);
}

void Engine::Impl::stopPunch(PeerState& peer) {
  // Replies after the punch are not used (onPunch), so what matched them can go.
  std::vector<PeerState::SentProbe>().swap(peer.sent_probes);
  peer.next_sent_probe = 0;
  peer.punch_until = kNever;
  peer.next_punch_at = kNever;
  peer.next_tcp_probe_at = kNever;
  peer.predict.next_at = kNever;
  if (peer.session && peer.session->path.direct() && !peer.candidates.empty()) {
    // The session's path is the one that worked (it may be a peer-reflexive address we learned
    // from a probe or a KICK before we probed it ourselves); probed ones that never answered
    // failed. A TCP path counts only if it is one of the peer's tcp candidates (not the far end
    // of a connection the peer opened to us).
    const Path& p = peer.session->path;
    PunchCandidate* c = nullptr;
    if (p.transport == Transport::kUdp) {
      c = addCandidate(peer, p.endpoint, PunchCandidate::Kind::kPeerReflexive);
    } else {
      for (auto& cand : peer.candidates) {
        if (cand.kind == PunchCandidate::Kind::kTcp && cand.endpoint == p.endpoint) {
          c = &cand;
        }
      }
    }
    if (c != nullptr) {
      c->state = PunchCandidate::State::kSucceeded;
    }
  }
  for (auto& c : peer.candidates) {
    if (c.state == PunchCandidate::State::kProbing) {
      c.state = PunchCandidate::State::kFailed;
    }
    // Connections we opened to probe tcp candidates and do not use now.
    bool used = peer.session && peer.session->path == c.path();
    if (c.kind == PunchCandidate::Kind::kTcp && c.probes_sent > 0 && !used &&
        !(peer.pending && peer.pending_path == c.path())) {
      sink.closeTcp(c.endpoint);
    }
  }
}

bool Engine::Impl::isOwnAddress(const protocol::IpAddress& a) const {
  auto same = [&](const protocol::Endpoint& e) { return e.address() == a; };
  return std::any_of(local_candidates.begin(), local_candidates.end(), same) ||
         std::any_of(tcp_candidates.begin(), tcp_candidates.end(), same);
}

void Engine::Impl::onIntroduce(Instant now, const protocol::IntroduceMsg& msg) {
  // One that names a request id must answer a lookup of ours (id 0: the other peer looked us up).
  if (msg.request_id != 0 &&
      std::none_of(sent_lookups.begin(), sent_lookups.end(), [&](const SentLookup& l) {
        return l.id == msg.request_id && l.at != Instant{} && now - l.at < kLookupAnswerWindow;
      })) {
    introductions_rejected++;
    drops.add(DropReason::kControlRejected);
    return;
  }
  PeerState* peer = findPeer(msg.peer_name);
  if (peer == nullptr) {
    drops.add(DropReason::kControlRejected);  // introduced to someone we don't accept
    return;
  }
  if (msg.peer_nat_type != protocol::NatType::kUnknown) {
    peer->nat_type = std::string(protocol::toString(msg.peer_nat_type));
    peer->peer_nat = msg.peer_nat_type;
    refreshRelayReason(*peer);
  }
  // With a session up we still punch: the other side asked because it lost its session with us
  // (a restart: its handshake on the new path replaces ours) or because it retries a direct path
  // while relayed (a probe reply moves our session).
  bool fresh = !(peer->punch_until != kNever && now < peer->punch_until);
  for (auto& intro : peer->intros) {
    if (intro.id == msg.intro_id) {
      return;  // the same introduction from another rendezvous
    }
  }
  if (peer->intros.size() >= PeerState::kMaxIntros) {
    peer->intros.erase(peer->intros.begin());
  }
  peer->intros.push_back(
      {msg.intro_id, msg.punch_key, now + options.punch_duration + kIntroLinger, std::nullopt});
  if (fresh) {
    peer->candidates.clear();
    peer->punch_started = now;
    peer->punch_until = now + options.punch_duration;
    peer->punch_connected = false;
    peer->punch_summary.clear();
  }
  noteAttempt(*peer, now);
  if (peer->configured_endpoint) {
    addCandidate(*peer, *peer->configured_endpoint, PunchCandidate::Kind::kStatic);
  }
  // The rendezvous filters announced candidates too; we do not rely on it. Reflexive ones are
  // what it observed, so they keep their port.
  std::vector<protocol::Candidate> announced;
  std::vector<protocol::Candidate> reflexive;
  for (const auto& c : msg.candidates) {
    (c.kind == protocol::CandidateKind::kReflexive ? reflexive : announced).push_back(c);
  }
  std::vector<protocol::Candidate> kept;
  std::size_t rejected = protocol::keepAnnounceable(announced, kept);
  for (const auto& c : reflexive) {
    if (c.endpoint.address().isRoutableUnicast()) {
      kept.push_back(c);
    } else {
      ++rejected;
    }
  }
  for (const auto& c : kept) {
    // Two LANs often share a private range: a peer's local candidate may be our own address, and
    // probing it would make us answer ourselves (or dial a service of ours); never aim at us.
    if (isOwnAddress(c.endpoint.address())) {
      ++rejected;
      continue;
    }
    if (c.kind != protocol::CandidateKind::kTcp && options.udp_family &&
        c.endpoint.address().family() != *options.udp_family) {
      ++rejected;  // our socket cannot send to that family
      continue;
    }
    PunchCandidate::Kind kind = PunchCandidate::Kind::kReflexive;
    if (c.kind == protocol::CandidateKind::kLocal) {
      kind = PunchCandidate::Kind::kLocal;
    } else if (c.kind == protocol::CandidateKind::kTcp) {
      kind = PunchCandidate::Kind::kTcp;
    } else if (c.kind == protocol::CandidateKind::kMapped) {
      kind = PunchCandidate::Kind::kMapped;
    }
    addCandidate(*peer, c.endpoint, kind);
  }
  candidates_rejected += rejected;
  peer->intros.back().public_path = introducedPublicPath(*peer, kept);
  if (fresh || !peer->predict.succeeded) {
    // Also mid-punch: both peers get every introduction at the same instant, so both start
    // (again) together; one that began on an earlier introduction the other could not use
    // (its NAT type was not known there yet) would spend its budget before the other is ready.
    startPrediction(*peer, now, msg.peer_nat_type, msg.peer_reading);
    if (!fresh && peer->predict.role != PeerState::Prediction::Role::kNone) {
      peer->punch_until = std::max(peer->punch_until, now + options.punch_duration);
    }
  }
  peer->want_direct_lookup = false;
  if (!peer->announce_lookup) {
    // A lookup that announces something new of ours (setNatType, setMappedCandidate) still
    // goes: this introduction may have been made before the rendezvous had it.
    peer->lookup_at = kNever;
  }
  peer->lookup_backoff = seconds(2);
  peer->next_punch_at = now;
  peer->next_tcp_probe_at = weConnectTcp(*peer) ? now + kFastProbePhase : kNever;
  servicePunch(*peer, now);
  if (fresh) {
    startEarlyHello(*peer, now);
  } else {
    reaimEarlyHello(*peer, now, kept);
  }
}

bool Engine::Impl::probedCandidate(const PeerState& peer, const Path& from) const {
  return punching(peer) && from.transport == Transport::kUdp && !from.relayed() &&
         std::any_of(peer.candidates.begin(), peer.candidates.end(), [&](const PunchCandidate& c) {
           return c.kind != PunchCandidate::Kind::kTcp && c.endpoint == from.endpoint &&
                  c.probes_sent > 0;
         });
}

void Engine::Impl::sendProbe(const Introduction& intro, bool reply, std::uint32_t seq,
                             const Path& to) {
  protocol::ProbePacket p;
  p.reply = reply;
  p.intro_id = intro.id;
  p.sequence = seq;
  std::array<std::uint8_t, protocol::kProbeSize> buf{};
  protocol::writeProbe(p, buf);
  computeTag(intro, std::span<const std::uint8_t>(buf).first(protocol::kProbeSignedSize),
             std::span<std::uint8_t>(buf).subspan<protocol::kProbeSignedSize,
                                                   protocol::kProbeTagSize>());
  sendOnPath(to, buf);
}

void Engine::Impl::probeCandidate(PeerState& peer, const Introduction& intro, PunchCandidate& c) {
  std::uint32_t seq = peer.punch_seq++;
  if (peer.sent_probes.size() < PeerState::kSentProbes) {
    peer.sent_probes.push_back({seq, false, c.path()});
  } else {
    peer.sent_probes[peer.next_sent_probe] = {seq, false, c.path()};
    peer.next_sent_probe = (peer.next_sent_probe + 1) % PeerState::kSentProbes;
  }
  sendProbe(intro, false, seq, c.path());
  c.probes_sent++;
  if (c.state == PunchCandidate::State::kUntried) {
    c.state = PunchCandidate::State::kProbing;
  }
}

bool Engine::Impl::takeProbeReply(PeerState& peer, std::uint32_t seq, const Path& from) {
  for (auto& p : peer.sent_probes) {
    if (!p.answered && p.seq == seq && p.path == from) {
      p.answered = true;
      return true;
    }
  }
  return false;
}

void Engine::Impl::endPunch(PeerState& peer, Instant now) {
  stopPunch(peer);
  bool worked = std::any_of(peer.candidates.begin(), peer.candidates.end(),
                            [](const PunchCandidate& c) {
                              return c.state == PunchCandidate::State::kSucceeded;
                            });
  if (worked) {
    return;  // the handshake (or the session) on the working path decides from here
  }
  std::size_t probed = 0;
  for (auto& c : peer.candidates) {
    if (c.probes_sent > 0) {
      c.state = PunchCandidate::State::kFailed;
      ++probed;
    }
  }
  std::string secs = std::to_string(static_cast<long long>(toSeconds(options.punch_duration)));
  peer.punch_summary = "no candidate answered (" + std::to_string(probed) + " tried for " + secs +
                       " s)";
  if (peer.session) {
    // Relayed (or on direct TCP): the background retry tries again later.
    if (peer.session->path.relayed()) {
      peer.path_reason = "relayed through " + peer.session->path.endpoint.toString() + ": " +
                         relayReason(peer);
    }
    return;
  }
  bool relaying = options.relay && anyRegistered();
  peer.unreachable = !relaying;
  std::string nat = natSummary(peer);
  peer.last_error = "no direct path: probed " + std::to_string(probed) + " candidates for " + secs +
                    " s without an answer" + (nat.empty() ? "" : " (" + nat + ")") +
                    (relaying ? "; relaying" : options.relay ? "; no rendezvous to relay through"
                                                             : "; relaying is turned off");
  peer.unreachable_backoff = peer.unreachable_backoff == Duration{}
                                 ? options.punch_retry
                                 : std::min(options.punch_retry_max, peer.unreachable_backoff * 2);
  peer.lookup_at = now + peer.unreachable_backoff;
  peer.lookup_backoff = seconds(2);
}

void Engine::Impl::servicePunch(PeerState& peer, Instant now) {
  // Forget introductions nobody probes with any more.
  std::erase_if(peer.intros, [&](const Introduction& i) { return now >= i.expires; });
  if (peer.punch_until == kNever) {
    return;
  }
  if (!punching(peer)) {
    stopPunch(peer);  // the session is on direct UDP found since this punch began
    return;
  }
  if (now >= peer.punch_until) {
    endPunch(peer, now);
    return;
  }
  if (peer.intros.empty()) {
    stopPunch(peer);  // cannot happen (an introduction outlives its punch); never leave a stale timer
    return;
  }
  const Introduction& intro = peer.intros.back();
  servicePrediction(peer, intro, now);
  if (now >= peer.next_tcp_probe_at) {
    // Direct TCP: once UDP had its fast phase without an answer (and never while a UDP path
    // works), one probe a second over the connection to each tcp candidate.
    bool udp_answered = std::any_of(peer.candidates.begin(), peer.candidates.end(),
                                    [](const PunchCandidate& c) {
                                      return c.kind != PunchCandidate::Kind::kTcp && c.replies > 0;
                                    });
    peer.next_tcp_probe_at = udp_answered ? kNever : now + kTcpProbeInterval;
    for (auto& c : peer.candidates) {
      if (udp_answered || c.kind != PunchCandidate::Kind::kTcp ||
          c.state == PunchCandidate::State::kFailed) {
        continue;
      }
      probeCandidate(peer, intro, c);
    }
  }
  if (now < peer.next_punch_at) {
    return;
  }
  const bool ipv6_only = wantsIpv6(peer);  // direct over IPv4 already
  for (auto& c : peer.candidates) {
    if (c.kind == PunchCandidate::Kind::kTcp || (ipv6_only && !c.endpoint.address().isV6())) {
      continue;
    }
    probeCandidate(peer, intro, c);
  }
  Duration interval =
      now - peer.punch_started < kFastProbePhase ? kFastProbeInterval : kSlowProbeInterval;
  peer.next_punch_at = std::min(now + interval, peer.punch_until);
}

void Engine::Impl::onPunch(Instant now, const Path& from, std::span<const std::uint8_t> datagram) {
  auto probe = protocol::parseProbe(datagram);
  if (!probe) {
    drops.add(DropReason::kMalformed);
    return;
  }
  PeerState* peer = nullptr;
  const Introduction* intro = nullptr;
  for (auto& p : peers) {
    for (const auto& i : p->intros) {
      if (i.id == probe->intro_id && now < i.expires) {
        peer = p.get();
        intro = &i;
      }
    }
  }
  if (intro == nullptr) {
    drops.add(DropReason::kPunchRejected);
    return;
  }
  std::array<std::uint8_t, protocol::kProbeTagSize> expected{};
  computeTag(*intro, datagram.first(protocol::kProbeSignedSize), expected);
  if (!crypto::constantTimeEqual(expected, probe->tag)) {
    drops.add(DropReason::kPunchRejected);
    return;
  }
  bool active = punching(*peer);
  if (from.local != 0 && !acceptPredictedPath(*peer, from)) {
    drops.add(DropReason::kPunchRejected);  // another prediction socket was hit first
    return;
  }
  if (!probe->reply) {
    sendProbe(*intro, true, probe->sequence, from);  // on the path (and connection) it came on
    if (active && from.transport == Transport::kUdp) {
      bool probed = probedCandidate(*peer, from);
      addCandidate(*peer, from.endpoint, PunchCandidate::Kind::kPeerReflexive);
      // A tagged probe from where ours already went proves the path both ways, as its reply
      // would, half a round trip sooner: start the handshake now (set-up time).
      if (probed && !peer->session && !peer->punch_connected) {
        onProbeReply(*peer, now, from);
      }
    }
    return;
  }
  if (!active) {
    return;  // a late reply: we have a direct session or gave up on this introduction
  }
  if (!takeProbeReply(*peer, probe->sequence, from) &&
      !takePredictionReply(*peer, probe->sequence, from)) {
    drops.add(DropReason::kPunchRejected);  // not to a probe of ours from there, or a replay
    return;
  }
  onProbeReply(*peer, now, from);
}

void Engine::Impl::onProbeReply(PeerState& peer, Instant now, const Path& from) {
  PunchCandidate* c = addCandidate(peer, from.endpoint,
                                   from.transport == Transport::kTcp
                                       ? PunchCandidate::Kind::kTcp
                                       : PunchCandidate::Kind::kPeerReflexive);
  if (c != nullptr) {
    c->replies++;
    c->state = PunchCandidate::State::kSucceeded;
  }
  std::string how = from.transport == Transport::kUdp
                        ? "direct UDP via hole punching (probe reply from " +
                              from.endpoint.toString() + ")"
                        : "direct TCP to the peer's tcp candidate " + from.endpoint.toString() +
                              " (probe reply)";
  if (peer.session) {
    PeerSession& s = *peer.session;
    if (from == s.path) {
      if (peer.direct && peer.direct->path == from) {
        peer.direct->last_rx = now;  // the probe proves the path both ways
        peer.direct->unanswered_since = kNever;
        peer.direct->next_probe_at = kNever;
        peer.roaming = false;
      }
      return;
    }
    if (isHeld(peer, from, now)) {
      return;
    }
    bool silent = s.path.direct() && peer.direct && peer.direct->path == s.path &&
                  peer.direct->unanswered_since != kNever;
    bool to_ipv6 = from.kind() == PathKind::kDirectUdp && from.endpoint.address().isV6() &&
                   s.path.kind() == PathKind::kDirectUdp && s.path.endpoint.address().isV4();
    if (to_ipv6) {
      how = "IPv6 preferred (RFC 8421): " + how;
    }
    if (s.path.relayed() || from.betterThan(s.path) || to_ipv6 ||
        (silent && from.rank() <= s.path.rank())) {
      // The same session moves, without a new handshake, once a sealed reply proves the path:
      // the probe reply's key is known to the rendezvous too. Our liveness request on it also
      // lets the peer (which may still be relayed) move.
      validatePath(peer, now, from, how);
    }
    return;
  }
  if (!peer.punch_connected) {
    peer.punch_connected = true;
    peer.unreachable = false;
    if (peer.pending && peer.pending_path == from) {
      // Our early ClientHello went here, or the peer's ClientHello from here started our attempt:
      // it goes on. One that has heard nothing may have reached the peer's NAT before the
      // peer's first probe opened it: send it again now that the path works.
      if (peer.via_attempt == peer.pending->localIndex()) {
        // The server answered the rendezvous' copy when it sent its first probes: that answer
        // is likely right behind the probe that got us here. Our ClientHello goes again only if
        // the answer's stream bytes do not come (an ack alone may have slipped through after
        // our NAT opened while the answer met it before): the second copy tells the server to
        // resend.
        if (!peer.pending->receivedPayload()) {
          peer.via_poke_at = now + kViaPokeGrace;
        }
      } else if (!peer.pending->receivedAnything()) {
        peer.pending->retransmitNow(now);
        servePending(peer, now);
      }
      return;
    }
    if (peer.pending && peer.pending_unaimed) {
      // Our attempt started with the lookup had no public candidate to go to: this path.
      aimPending(peer, from);
      peer.pending->retransmitNow(now);
      servePending(peer, now);
      return;
    }
    if (peer.pending && peer.vouched_attempt == peer.pending->localIndex() &&
        !peer.vouched_followed) {
      // We answered the rendezvous' copy of the peer's ClientHello at its reflexive endpoint,
      // and the path that works is another: the attempt moves there.
      followVouched(peer, now, from);
      servePending(peer, now);
      return;
    }
    initiate(peer, now, from, 0);
  }
}

}  // namespace vpn::client
