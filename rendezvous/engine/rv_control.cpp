// Sealed packets from registered peers: control messages (REGISTER, LOOKUP, RELAY_REQUEST),
// keepalive probes (answered so the peer's liveness and RTT logic works against us) and data
// sealed to us (dropped: peers relay in relay packets, rv_relay.cpp).
#include <algorithm>

#include "base/byte_io.hpp"
#include "crypto/random.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {
namespace {

constexpr std::uint8_t kProbeRequest = 1;
constexpr std::uint8_t kProbeReply = 2;
constexpr std::size_t kProbeSize = 9;
// Old receive keys stay this long after the peer's key update; its RTT to us is not measured.
constexpr Duration kKeyGrace = seconds(2);

// What the other side of an introduction gets: local (and tcp) candidates, then the reflexive
// endpoint. A session over TCP has none to give: its source port is a TCP one, useless for UDP.
// A dual-stack peer's other reflexive endpoint (ALSO_HERE) comes last, while it is recent.
std::vector<protocol::Candidate> candidatesOf(const PeerRecord& r, Instant now, Duration fresh) {
  std::optional<protocol::Endpoint> alt;
  if (r.alt_endpoint && now - r.alt_seen < fresh) {
    alt = r.alt_endpoint;
  }
  std::size_t reserved = 1 + (alt ? 1 : 0);
  std::vector<protocol::Candidate> out;
  for (const auto& c : r.candidates) {
    if (out.size() + reserved >= protocol::kMaxCandidates) {
      break;
    }
    out.push_back(c);
  }
  if (!r.overTcp()) {
    out.push_back(protocol::Candidate{protocol::CandidateKind::kReflexive, r.endpoint});
  }
  if (alt) {
    out.push_back(protocol::Candidate{protocol::CandidateKind::kReflexive, *alt});
  }
  return out;
}

}  // namespace

bool RendezvousEngine::Impl::sendControl(PeerRecord& r, const protocol::ControlMessage& msg) {
  auto body = std::span<std::uint8_t>(scratch).subspan(protocol::kDataHeaderSize,
                                                       protocol::kMaxControlPayload);
  std::size_t n = protocol::serializeControl(msg, body);
  if (n == 0) {
    drop(Drop::kTxTooBig);
    return false;
  }
  auto packet = std::span<std::uint8_t>(scratch).first(protocol::kDataOverhead + n);
  if (!r.keys->sealControl(r.remote_index, packet, n)) {
    drop(Drop::kTxTooBig);
    return false;
  }
  return sendTo(r, packet);
}

bool RendezvousEngine::Impl::sendControlTo(PeerRecord& r, SocketId on,
                                           const protocol::Endpoint& to,
                                           const protocol::ControlMessage& msg) {
  auto body = std::span<std::uint8_t>(scratch).subspan(protocol::kDataHeaderSize,
                                                       protocol::kMaxControlPayload);
  std::size_t n = protocol::serializeControl(msg, body);
  auto packet = std::span<std::uint8_t>(scratch).first(protocol::kDataOverhead + n);
  if (n == 0 || !r.keys->sealControl(r.remote_index, packet, n)) {
    drop(Drop::kTxTooBig);
    return false;
  }
  sink.sendFrom(on, to, packet);
  return true;
}

void RendezvousEngine::Impl::onAlsoHere(Instant now, PeerRecord& r, SocketId on,
                                        const protocol::Endpoint& from,
                                        std::span<const std::uint8_t> plain) {
  auto msg = protocol::parseControl(plain);
  const auto* also = msg ? std::get_if<protocol::AlsoHereMsg>(&*msg) : nullptr;
  // Only from the other family, over UDP: the same family would be a second path of one kind
  // (the session follows the newest packet for that), and a TCP source port is useless for UDP.
  if (also == nullptr || on.role == SocketRole::kTcp ||
      from.address().family() == r.endpoint.address().family() ||
      !from.address().isRoutableUnicast()) {
    drop(Drop::kUnexpectedMessage);
    return;
  }
  r.alt_endpoint = from;
  r.alt_seen = now;
  counters.also_here++;
  sendControlTo(r, on, from, protocol::SeenHereMsg{also->request_id, from});
}

bool RendezvousEngine::Impl::sendTo(PeerRecord& r, std::span<const std::uint8_t> bytes) {
  if (r.unreachable) {
    drop(Drop::kPeerUnreachable);
    return false;
  }
  sink.sendFrom(r.socket, r.endpoint, bytes);
  return true;
}

void RendezvousEngine::Impl::sendKeepalive(PeerRecord& r, std::span<const std::uint8_t> payload) {
  std::copy(payload.begin(), payload.end(),
            scratch.begin() + static_cast<std::ptrdiff_t>(protocol::kDataHeaderSize));
  auto packet = std::span<std::uint8_t>(scratch).first(protocol::kDataOverhead + payload.size());
  if (r.keys->seal(true, r.remote_index, packet, payload.size())) {
    sendTo(r, packet);
  }
}

void RendezvousEngine::Impl::onSealed(Instant now, SocketId on, const protocol::Endpoint& from,
                                      std::span<std::uint8_t> bytes) {
  auto header = protocol::parseSealedHeader(bytes);
  if (!header) {
    drop(Drop::kMalformed);
    return;
  }
  PeerRecord* rp = registry.byIndex(header->receiver_index);
  if (rp == nullptr) {
    // The client finishes first and may send at once; its last flight can still be on the way.
    drop(pending.count(header->receiver_index) != 0 ? Drop::kNotEstablished
                                                    : Drop::kUnknownIndex);
    return;
  }
  PeerRecord& r = *rp;
  auto res = r.keys->open(now, *header, bytes, kKeyGrace);
  if (res.status == session::CompactDataKeys::OpenStatus::kReplay) {
    drop(Drop::kReplay);
    return;
  }
  if (res.status != session::CompactDataKeys::OpenStatus::kOk) {
    drop(Drop::kAuthFailed);
    return;
  }
  // Authenticated from here on: the record lives on, and follows the peer's NAT mapping (or its
  // move between UDP and TCP).
  r.last_rx = now;
  if (r.linger && r.linger->channel().allAcked() && !r.linger->channel().hasPendingAcks()) {
    // The peer finished and talks to us; its last flight was acked when we completed. A
    // retransmission after a lost ack is then only ignored, which costs the peer nothing, while
    // the TLS state is most of a session's memory.
    r.linger.reset();
    r.linger_until = kNever;
  }
  auto plain = std::span<const std::uint8_t>(bytes).subspan(
      protocol::kDataHeaderSize, bytes.size() - protocol::kDataOverhead);
  if (header->control && protocol::peekControlType(plain) == protocol::ControlType::kAlsoHere) {
    onAlsoHere(now, r, on, from, plain);  // never moves the session's path
    return;
  }
  if (res.newest) {
    registry.setPath(r, on, from);
  }
  if (res.rotated) {
    sendKeepalive(r, {});  // shows the peer our new phase even if we have nothing to say
  }
  if (header->control) {
    onControl(now, r, plain);
    return;
  }
  if (!header->keepalive) {
    drop(Drop::kDataNotRelayed);
    return;
  }
  if (plain.empty()) {
    return;
  }
  if (plain.size() != kProbeSize) {
    drop(Drop::kMalformed);
    return;
  }
  if (plain[0] == kProbeRequest) {
    std::array<std::uint8_t, kProbeSize> reply{};
    std::copy(plain.begin(), plain.end(), reply.begin());
    reply[0] = kProbeReply;
    sendKeepalive(r, reply);
    counters.keepalive_replies++;
    return;
  }
  if (plain[0] != kProbeReply) {  // we never probe, so a reply is merely ignored
    drop(Drop::kMalformed);
  }
}

void RendezvousEngine::Impl::onControl(Instant now, PeerRecord& r,
                                       std::span<const std::uint8_t> plain) {
  auto msg = protocol::parseControl(plain);
  if (!msg) {
    drop(Drop::kMalformed);
    return;
  }
  if (const auto* reg = std::get_if<protocol::RegisterMsg>(&*msg)) {
    onRegister(now, r, *reg);
    return;
  }
  if (const auto* lookup = std::get_if<protocol::LookupMsg>(&*msg)) {
    onLookup(now, r, *lookup);
    return;
  }
  if (const auto* relay = std::get_if<protocol::RelayRequestMsg>(&*msg)) {
    onRelayRequest(now, r, *relay);
    return;
  }
  if (auto* hello = std::get_if<protocol::HelloViaMsg>(&*msg)) {
    onHelloVia(now, r, *hello);
    return;
  }
  drop(Drop::kUnexpectedMessage);
}

void RendezvousEngine::Impl::onRegister(Instant now, PeerRecord& r, const protocol::RegisterMsg& m) {
  // Reflexive candidates are ours to observe, not the peer's to claim; loopback, link-local,
  // multicast and the like, or UDP ports besides the peer's one, would aim others at it.
  std::size_t rejected = protocol::keepAnnounceable(m.candidates, r.candidates);
  counters.candidates_rejected += rejected;
  r.candidates.shrink_to_fit();
  r.nat_type = m.nat_type;
  if (!r.registered_at) {
    r.registered_at = now;
  }
  counters.registrations++;
  protocol::RegisteredMsg reply;
  reply.reflexive = r.endpoint;
  auto secs = std::chrono::duration_cast<seconds>(options.refresh).count();
  reply.refresh_seconds = static_cast<std::uint16_t>(std::clamp<long long>(secs, 1, 65535));
  sendControl(r, reply);
}

void RendezvousEngine::Impl::lookupFailed(PeerRecord& r, std::uint32_t request_id,
                                          protocol::LookupFailure reason, std::string name) {
  counters.lookup_failures++;
  protocol::LookupFailedMsg m;
  m.request_id = request_id;
  m.reason = reason;
  m.name = std::move(name);
  sendControl(r, m);
}

void RendezvousEngine::Impl::onLookup(Instant now, PeerRecord& r, const protocol::LookupMsg& m) {
  counters.lookups++;
  if (m.reading) {
    r.reading = m.reading;
    r.reading_at = now;
  }
  std::string asked = m.name ? *m.name : (m.address ? m.address->toString() : std::string());
  if (!r.lookups.take(now, options.lookup_per_second, options.lookup_burst)) {
    drop(Drop::kLookupRateLimited);
    lookupFailed(r, m.request_id, protocol::LookupFailure::kRateLimited, m.name.value_or(""));
    return;
  }
  PeerRecord* target = nullptr;
  if (m.name) {
    target = registry.byName(*m.name);
  } else if (m.address) {
    target = registry.byAddress(*m.address);
  }
  if (target == &r) {
    lookupFailed(r, m.request_id, protocol::LookupFailure::kNotAllowed, m.name.value_or(""));
    return;
  }
  if (target == nullptr || !target->registered() || target->unreachable) {
    lookupFailed(r, m.request_id, protocol::LookupFailure::kNotRegistered, m.name.value_or(""));
    return;
  }
  introduce(now, r, *target, m.request_id);
}

std::optional<protocol::PortReading> RendezvousEngine::Impl::freshReading(const PeerRecord& r,
                                                                          Instant now) const {
  // A NAT's port counter moves with its other users' traffic: an old reading misleads.
  constexpr Duration kReadingFresh = seconds(10);
  if (!r.reading || now - r.reading_at > kReadingFresh) {
    return std::nullopt;
  }
  return r.reading;
}

void RendezvousEngine::Impl::introduce(Instant now, PeerRecord& requester, PeerRecord& target,
                                       std::uint32_t request_id) {
  protocol::IntroduceMsg to_requester;
  to_requester.request_id = request_id;
  to_requester.intro_id = crypto::randomU64();
  crypto::randomBytes(to_requester.punch_key);
  to_requester.peer_name = target.name;
  to_requester.candidates = candidatesOf(target, now, 3 * options.refresh);
  to_requester.peer_nat_type = target.nat_type;
  to_requester.peer_reading = freshReading(target, now);

  protocol::IntroduceMsg to_target;
  to_target.request_id = 0;
  to_target.intro_id = to_requester.intro_id;
  to_target.punch_key = to_requester.punch_key;
  to_target.peer_name = requester.name;
  to_target.candidates = candidatesOf(requester, now, 3 * options.refresh);
  to_target.peer_nat_type = requester.nat_type;
  to_target.peer_reading = freshReading(requester, now);

  // Both in the same instant: the punches must cross while both NAT mappings are fresh.
  bool a = sendControl(target, to_target);
  bool b = sendControl(requester, to_requester);
  if (a && b) {
    counters.introductions++;
  }
  // After the INTRODUCE it belongs to: the receiver needs the candidates to answer it.
  passHello(now, requester, target, to_requester.intro_id);
  passHello(now, target, requester, to_requester.intro_id);
  std::fill(to_requester.punch_key.begin(), to_requester.punch_key.end(), std::uint8_t{0});
  std::fill(to_target.punch_key.begin(), to_target.punch_key.end(), std::uint8_t{0});
}

}  // namespace vpn::rendezvous
