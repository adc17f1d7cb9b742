// Introductions and UDP hole punching. A peer we cannot reach directly is looked up at every
// registered rendezvous; on INTRODUCE both sides probe each other's candidates (local first, then
// reflexive, then peer-reflexive: addresses the other side's probes came from, which is what makes
// a symmetric NAT on one side work). A valid probe REPLY proves a path both ways; the first one
// starts the TLS handshake there (the client sends ClientHello, the server its KICK).
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
constexpr Duration kIntroLinger = seconds(5);  // keep answering probes after punching stops
constexpr Duration kMaxLookupBackoff = seconds(30);

int rank(PunchCandidate::Kind k) {
  switch (k) {
    case PunchCandidate::Kind::kLocal: return 0;
    case PunchCandidate::Kind::kStatic: return 1;
    case PunchCandidate::Kind::kReflexive: return 2;
    case PunchCandidate::Kind::kPeerReflexive: return 3;
  }
  return 4;
}

void computeTag(const Introduction& intro, std::span<const std::uint8_t> signed_bytes,
                std::span<std::uint8_t, protocol::kProbeTagSize> tag) {
  std::array<std::uint8_t, 32> mac{};
  crypto::hmacSha256(intro.key, signed_bytes, mac);
  std::copy_n(mac.begin(), tag.size(), tag.begin());
}

}  // namespace

bool Engine::Impl::needsIntroduction(const PeerState& peer, Instant now) const {
  if (peer.session) {
    return false;
  }
  if (peer.punch_until != kNever && now < peer.punch_until) {
    return false;  // punching already
  }
  if (peer.pending && peer.punch_connected) {
    return false;  // a handshake on a punched path is under way
  }
  return !peer.configured_endpoint || peer.direct_failed;
}

void Engine::Impl::onDirectFailure(PeerState& peer, Instant now) {
  peer.direct_failed = true;
  peer.punch_connected = false;
  if (!rendezvous.empty() && peer.lookup_at == kNever && needsIntroduction(peer, now)) {
    peer.lookup_at = now;
  }
}

void Engine::Impl::servicePeerLookup(PeerState& peer, Instant now) {
  if (peer.lookup_at > now) {
    return;
  }
  if (!needsIntroduction(peer, now)) {
    peer.lookup_at = kNever;
    return;
  }
  if (!anyRegistered()) {
    peer.lookup_at = kNever;  // re-armed when a rendezvous registers us
    return;
  }
  protocol::LookupMsg msg;
  msg.request_id = peer.lookup_id = next_lookup_id++;
  msg.name = peer.name;
  sendLookup(now, msg);
  peer.lookup_at = now + peer.lookup_backoff;
  peer.lookup_backoff = std::min(kMaxLookupBackoff, peer.lookup_backoff * 2);
}

void Engine::Impl::onLookupFailed(Instant now, const protocol::LookupFailedMsg& msg) {
  PeerState* peer = msg.name.empty() ? nullptr : findPeer(msg.name);
  if (peer == nullptr) {
    for (auto& p : peers) {
      if (p->lookup_id == msg.request_id) {
        peer = p.get();
      }
    }
  }
  if (peer == nullptr || peer->session) {
    return;
  }
  peer->last_error = "rendezvous lookup failed: " + std::string(protocol::toString(msg.reason));
  // lookup_at already holds the backoff retry.
  (void)now;
}

PunchCandidate* Engine::Impl::addCandidate(PeerState& peer, const protocol::Endpoint& ep,
                                           PunchCandidate::Kind kind) {
  for (auto& c : peer.candidates) {
    if (c.endpoint == ep) {
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
  auto pos = std::find_if(peer.candidates.begin(), peer.candidates.end(),
                          [&](const PunchCandidate& o) { return rank(o.kind) > rank(kind); });
  return &*peer.candidates.insert(pos, c);
}

void Engine::Impl::stopPunch(PeerState& peer) {
  peer.punch_until = kNever;
  peer.next_punch_at = kNever;
  if (peer.session && !peer.candidates.empty()) {
    // The session's path is the one that worked (it may be a peer-reflexive address we learned
    // from a probe or a KICK before we probed it ourselves); probed ones that never answered
    // failed.
    if (PunchCandidate* c = addCandidate(peer, peer.session->endpoint,
                                         PunchCandidate::Kind::kPeerReflexive)) {
      c->state = PunchCandidate::State::kSucceeded;
    }
  }
  for (auto& c : peer.candidates) {
    if (c.state == PunchCandidate::State::kProbing) {
      c.state = PunchCandidate::State::kFailed;
    }
  }
}

void Engine::Impl::onIntroduce(Instant now, const protocol::IntroduceMsg& msg) {
  PeerState* peer = findPeer(msg.peer_name);
  if (peer == nullptr) {
    drops.add(DropReason::kControlRejected);  // introduced to someone we don't accept
    return;
  }
  // With a session up we still punch: the rendezvous introduces us only because the other side
  // asked, so it lost its session with us (a restart); the handshake on the new path replaces ours.
  bool fresh = !(peer->punch_until != kNever && now < peer->punch_until);
  for (auto& intro : peer->intros) {
    if (intro.id == msg.intro_id) {
      return;  // the same introduction from another rendezvous
    }
  }
  if (peer->intros.size() >= PeerState::kMaxIntros) {
    peer->intros.erase(peer->intros.begin());
  }
  peer->intros.push_back({msg.intro_id, msg.punch_key, now + options.punch_duration + kIntroLinger});
  if (fresh) {
    peer->candidates.clear();
    peer->punch_started = now;
    peer->punch_until = now + options.punch_duration;
    peer->punch_connected = false;
  }
  if (peer->configured_endpoint) {
    addCandidate(*peer, *peer->configured_endpoint, PunchCandidate::Kind::kStatic);
  }
  for (const auto& c : msg.candidates) {
    // Two LANs often share a private range: a peer's local candidate may be our own address, and
    // probing it would make us answer ourselves and "punch" a path to ourselves.
    if (std::find(local_candidates.begin(), local_candidates.end(), c.endpoint) !=
        local_candidates.end()) {
      continue;
    }
    addCandidate(*peer, c.endpoint,
                 c.kind == protocol::CandidateKind::kLocal ? PunchCandidate::Kind::kLocal
                                                           : PunchCandidate::Kind::kReflexive);
  }
  peer->lookup_at = kNever;
  peer->lookup_backoff = seconds(2);
  peer->next_punch_at = now;
  servicePunch(*peer, now);
}

void Engine::Impl::sendProbe(const Introduction& intro, bool reply, std::uint32_t seq,
                             const protocol::Endpoint& to) {
  protocol::ProbePacket p;
  p.reply = reply;
  p.intro_id = intro.id;
  p.sequence = seq;
  std::array<std::uint8_t, protocol::kProbeSize> buf{};
  protocol::writeProbe(p, buf);
  computeTag(intro, std::span<const std::uint8_t>(buf).first(protocol::kProbeSignedSize),
             std::span<std::uint8_t>(buf).subspan<protocol::kProbeSignedSize,
                                                   protocol::kProbeTagSize>());
  sink.sendDatagram(to, buf);
}

void Engine::Impl::servicePunch(PeerState& peer, Instant now) {
  // Forget introductions nobody probes with any more.
  std::erase_if(peer.intros, [&](const Introduction& i) { return now >= i.expires; });
  if (peer.punch_until == kNever) {
    return;
  }
  if (peer.session && peer.session->established_at >= peer.punch_started) {
    stopPunch(peer);
    return;
  }
  if (now >= peer.punch_until) {
    stopPunch(peer);
    bool worked = std::any_of(peer.candidates.begin(), peer.candidates.end(),
                              [](const PunchCandidate& c) {
                                return c.state == PunchCandidate::State::kSucceeded;
                              });
    if (worked) {
      return;  // the handshake on the working path decides from here
    }
    std::size_t probed = 0;
    for (auto& c : peer.candidates) {
      if (c.probes_sent > 0) {
        c.state = PunchCandidate::State::kFailed;
        ++probed;
      }
    }
    peer.unreachable = true;
    peer.last_error = "no direct path: probed " + std::to_string(probed) + " candidates for " +
                      std::to_string(static_cast<long long>(toSeconds(options.punch_duration))) +
                      " s without an answer (both NATs may map per destination); relay comes in a "
                      "later version";
    peer.unreachable_backoff = peer.unreachable_backoff == Duration{}
                                   ? options.punch_retry
                                   : std::min(options.punch_retry_max, peer.unreachable_backoff * 2);
    peer.lookup_at = now + peer.unreachable_backoff;
    peer.lookup_backoff = seconds(2);
    return;
  }
  if (peer.intros.empty()) {
    stopPunch(peer);  // cannot happen (an introduction outlives its punch); never leave a stale timer
    return;
  }
  if (now < peer.next_punch_at) {
    return;
  }
  const Introduction& intro = peer.intros.back();
  for (auto& c : peer.candidates) {
    sendProbe(intro, false, peer.punch_seq++, c.endpoint);
    c.probes_sent++;
    if (c.state == PunchCandidate::State::kUntried) {
      c.state = PunchCandidate::State::kProbing;
    }
  }
  Duration interval =
      now - peer.punch_started < kFastProbePhase ? kFastProbeInterval : kSlowProbeInterval;
  peer.next_punch_at = std::min(now + interval, peer.punch_until);
}

void Engine::Impl::onPunch(Instant now, const protocol::Endpoint& from,
                           std::span<const std::uint8_t> datagram) {
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
  bool punching = peer->punch_until != kNever &&
                  !(peer->session && peer->session->established_at >= peer->punch_started);
  if (!probe->reply) {
    sendProbe(*intro, true, probe->sequence, from);
    if (punching) {
      addCandidate(*peer, from, PunchCandidate::Kind::kPeerReflexive);
    }
    return;
  }
  if (!punching) {
    return;  // a late reply: we have a session or gave up on this introduction
  }
  PunchCandidate* c = addCandidate(*peer, from, PunchCandidate::Kind::kPeerReflexive);
  if (c != nullptr) {
    c->replies++;
    c->state = PunchCandidate::State::kSucceeded;
  }
  if (!peer->punch_connected) {
    peer->punch_connected = true;
    peer->unreachable = false;
    initiate(*peer, now, from, 0);
  }
}

}  // namespace vpn::client
