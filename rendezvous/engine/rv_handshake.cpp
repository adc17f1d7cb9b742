// Handshake packets: the rendezvous is always the TLS server. A ClientHello (HELLO, no receiver
// index) starts a pending handshake whose expected certificate name is the HELLO name, so a peer
// cannot register under another name. Established handshakes become registry records.
#include <array>
#include <cstring>

#include "base/log.hpp"
#include "crypto/key_schedule.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {
namespace {

std::string helloKey(std::string_view name, std::uint32_t sender_index) {
  std::string key(name);
  key.push_back('\0');
  char idx[4];
  std::memcpy(idx, &sender_index, sizeof idx);
  key.append(idx, sizeof idx);
  return key;
}

}  // namespace

void RendezvousEngine::Impl::erasePending(std::uint32_t index) {
  auto it = pending.find(index);
  if (it == pending.end()) {
    return;
  }
  auto h = pending_by_hello.find(it->second.hello_key);
  if (h != pending_by_hello.end() && h->second == index) {
    pending_by_hello.erase(h);
  }
  pending.erase(it);
}

void RendezvousEngine::Impl::servePending(Instant now, std::uint32_t index) {
  auto it = pending.find(index);
  if (it == pending.end()) {
    return;
  }
  session::Handshake& hs = *it->second.hs;
  SocketSink out(sink, it->second.socket);
  hs.flush(now, out);
  switch (hs.state()) {
    case session::Handshake::State::kEstablished:
      completeHandshake(now, index);
      break;
    case session::Handshake::State::kFailed:
      LOG_DEBUG("handshake with '%s' at %s failed: %s", hs.peerName().c_str(),
                hs.endpoint().toString().c_str(), hs.failureReason().c_str());
      drop(Drop::kHandshakeFailed);
      erasePending(index);
      break;
    case session::Handshake::State::kHandshaking:
      break;
  }
}

void RendezvousEngine::Impl::completeHandshake(Instant now, std::uint32_t index) {
  auto it = pending.find(index);
  std::unique_ptr<session::Handshake> hs = std::move(it->second.hs);
  SocketId socket = it->second.socket;
  erasePending(index);

  crypto::TlsSession& tls_session = hs->tls();
  const crypto::CertIdentity& id = tls_session.peerIdentity();
  if (id.rendezvous_role) {
    LOG_INFO("refused '%s' at %s: a rendezvous certificate cannot register as a peer",
             id.name.c_str(), hs->endpoint().toString().c_str());
    drop(Drop::kNotPeerRole);
    return;
  }
  if (id.name != hs->peerName()) {  // TLS checked it already; stay correct if that ever changes
    drop(Drop::kHandshakeFailed);
    return;
  }
  const Instant expires = certificateExpiry(id, now);
  if (expires <= now || tls.isBlocked(id.fingerprint)) {
    LOG_INFO("refused '%s' at %s: its certificate %s", id.name.c_str(),
             hs->endpoint().toString().c_str(),
             expires <= now ? "has expired" : "is on the blocklist");
    drop(Drop::kHandshakeFailed);
    return;
  }
  auto secrets = crypto::exportSessionSecrets(tls_session);
  if (!secrets) {
    drop(Drop::kHandshakeFailed);
    return;
  }
  auto keys = session::CompactDataKeys::create(tls_session.negotiatedCipher(), *secrets, false,
                                               now, session::CompactKeySet(aead));
  secrets->client_to_server.wipe();
  secrets->server_to_client.wipe();
  if (!keys) {
    drop(Drop::kHandshakeFailed);
    return;
  }
  auto r = std::make_unique<PeerRecord>();
  r->name = id.name;
  r->local_index = hs->localIndex();
  r->remote_index = hs->remoteIndex();
  r->socket = socket;
  r->endpoint = hs->endpoint();
  r->keys = std::move(keys);
  r->established_at = now;
  r->last_rx = now;
  r->addresses = id.addresses;
  r->addresses.shrink_to_fit();
  r->cert_fingerprint = id.fingerprint;
  r->cert_expires_at = expires;
  r->linger = std::move(hs);
  r->linger_until = now + options.linger;
  auto [record, replaced] = registry.insert(std::move(r));
  counters.handshakes++;
  if (replaced) {
    counters.replaced++;
  }
  if (next_sweep == kNever) {
    next_sweep = now + kSweepInterval;
  }
  LOG_DEBUG("session with '%s' at %s established%s", record->name.c_str(),
            record->endpoint.toString().c_str(), replaced ? " (replaces the previous one)" : "");
}

void RendezvousEngine::Impl::onLingerPacket(Instant now, PeerRecord& r,
                                            const protocol::HandshakePacket& p) {
  if (!r.linger) {
    return;  // late retransmission after the linger: the peer has long finished
  }
  SocketSink out(sink, r.socket);
  r.linger->onPacket(now, p);
  r.linger->flush(now, out);
  if (r.linger->state() == session::Handshake::State::kFailed) {
    drop(Drop::kHandshakeFailed);
    registry.remove(r);
  }
}

void RendezvousEngine::Impl::onHandshake(Instant now, SocketId on, const protocol::Endpoint& from,
                                         std::span<const std::uint8_t> bytes) {
  auto parsed = protocol::parseHandshake(bytes);
  if (!parsed) {
    drop(Drop::kMalformed);
    return;
  }
  const protocol::HandshakePacket& p = *parsed;
  if (p.isKick()) {
    drop(Drop::kUnexpectedMessage);  // we are always the server; nobody kicks us
    return;
  }

  if (p.receiver_index != 0) {
    auto it = pending.find(p.receiver_index);
    if (it != pending.end()) {
      session::Handshake& hs = *it->second.hs;
      if (hs.remoteIndex() != p.sender_index) {
        drop(Drop::kUnknownIndex);
        return;
      }
      hs.onPacket(now, p);
      servePending(now, p.receiver_index);
      return;
    }
    PeerRecord* r = registry.byIndex(p.receiver_index);
    if (r != nullptr && r->remote_index == p.sender_index) {
      onLingerPacket(now, *r, p);
      return;
    }
    drop(Drop::kUnknownIndex);
    return;
  }

  // A ClientHello (or its retransmission): names its sender and carries stream bytes.
  if (!p.hasHello() || !p.hasPayload() || p.name.empty() || p.sender_index == 0) {
    drop(Drop::kMalformed);
    return;
  }
  std::string key = helloKey(p.name, p.sender_index);
  if (auto h = pending_by_hello.find(key); h != pending_by_hello.end()) {
    std::uint32_t index = h->second;
    pending.at(index).hs->onPacket(now, p);
    servePending(now, index);
    return;
  }
  if (PeerRecord* r = registry.byName(p.name); r != nullptr && r->remote_index == p.sender_index) {
    onLingerPacket(now, *r, p);
    return;
  }
  admitHello(now, on, from, p, std::move(key));
}

bool RendezvousEngine::Impl::underLoad() const {
  return pending.size() * 4 >= options.max_pending_handshakes;
}

void RendezvousEngine::Impl::sendCookieReply(Instant now, SocketId on,
                                             const protocol::Endpoint& to,
                                             std::uint32_t sender_index) {
  protocol::CookieReply reply;
  reply.receiver_index = sender_index;
  reply.cookie = cookies.make(now, to, sender_index);
  std::array<std::uint8_t, protocol::kCookieReplySize> out{};
  std::size_t n = protocol::serializeCookieReply(reply, out);
  counters.cookie_replies++;
  sink.sendFrom(on, to, std::span<const std::uint8_t>(out.data(), n));
}

bool RendezvousEngine::Impl::evictStalled(Instant now) {
  // A pending handshake whose TLS has said nothing yet (its ClientHello never completed; acks
  // do not count) for a second is the cheapest to lose: the oldest such goes.
  std::uint32_t victim = 0;
  Instant oldest = kNever;
  for (const auto& [index, e] : pending) {
    if (e.hs->channel().bytesSent() == 0 && now - e.hs->startedAt() >= kStallTimeout &&
        e.hs->startedAt() < oldest) {
      oldest = e.hs->startedAt();
      victim = index;
    }
  }
  if (victim == 0) {
    return false;
  }
  erasePending(victim);
  counters.pending_evicted++;
  return true;
}

void RendezvousEngine::Impl::admitHello(Instant now, SocketId on, const protocol::Endpoint& from,
                                        const protocol::HandshakePacket& p, std::string key) {
  // A first packet must be padded (its answer may then be as large) and must be the start of the
  // TLS stream (a later chunk alone would hold a slot that TLS never sees).
  if (p.wire_size < protocol::kMinInitialPacket) {
    drop(Drop::kUnpadded);
    return;
  }
  if (p.packet_id != 1) {
    drop(Drop::kMalformed);
    return;
  }
  // A TCP connection has proved its address; over UDP a source must echo our cookie, unless it
  // is where a registered session lives and we are not under load.
  bool proven = on.role == SocketRole::kTcp;
  if (!proven && p.hasCookie()) {
    if (!cookies.check(now, from, p.sender_index, p.cookie)) {
      drop(Drop::kBadCookie);
      sendCookieReply(now, on, from, p.sender_index);  // the secret may have rotated twice
      return;
    }
    proven = true;
  }
  if (!proven && !underLoad() && registry.byPath(on, from) != nullptr) {
    proven = true;
  }
  // Not under load, a few unproven sources a second skip the cookie round trip (set-up time):
  // their handshake answers within a 1x budget until a packet naming our index proves the
  // source. They are not charged to the per-address buckets, which a spoofer could then drain
  // for its victim; the one shared bucket bounds them instead, and once it is empty, or a
  // quarter of the slots are taken, everyone gets a cookie again.
  bool skip_cookie = false;
  if (!proven && !underLoad() && options.cookieless_burst >= 1 &&
      options.cookieless_per_second > 0 &&
      cookieless.take(now, options.cookieless_per_second, options.cookieless_burst)) {
    skip_cookie = true;
  }
  if (!proven && !skip_cookie) {
    sendCookieReply(now, on, from, p.sender_index);
    return;
  }
  switch (skip_cookie ? session::AdmissionLimiter::Verdict::kAllow
                     : admission.allow(now, from.address())) {
    case session::AdmissionLimiter::Verdict::kAllow:
      break;
    case session::AdmissionLimiter::Verdict::kAddress:
      drop(Drop::kRateLimited);
      return;
    case session::AdmissionLimiter::Verdict::kNetwork:
      drop(Drop::kRateLimitedNetwork);
      return;
    case session::AdmissionLimiter::Verdict::kGlobal:
      drop(Drop::kHandshakeRateGlobal);
      return;
  }
  if (pending.size() >= options.max_pending_handshakes && !evictStalled(now)) {
    drop(Drop::kPendingFull);
    return;
  }
  session::Handshake::Params params;
  params.role = crypto::TlsSession::Role::kServer;
  params.own_name = own_name;
  params.peer_name = std::string(p.name);
  params.local_index = newIndex();
  params.remote_index = p.sender_index;
  params.endpoint = from;
  params.timeout = options.handshake_timeout;
  params.responder = true;
  params.validated = !skip_cookie;
  std::uint32_t index = params.local_index;
  PendingHandshake entry;
  try {
    entry.hs = std::make_unique<session::Handshake>(tls, std::move(params), now);
  } catch (const std::exception& e) {
    LOG_WARN("cannot start a handshake: %s", e.what());
    drop(Drop::kHandshakeFailed);
    return;
  }
  entry.socket = on;
  entry.hello_key = key;
  if (skip_cookie) {
    counters.cookieless++;
  }
  entry.hs->begin(now);
  entry.hs->onPacket(now, p);
  pending.emplace(index, std::move(entry));
  pending_by_hello.emplace(std::move(key), index);
  servePending(now, index);
}

}  // namespace vpn::rendezvous
