// Sessions with rendezvous servers: establishing them (we are always the TLS client; the server's
// certificate must carry the rendezvous role), keepalives and dead-peer detection, registration of
// our candidates, lookups, and dispatching the control messages they send us.
#include <algorithm>

#include "base/byte_io.hpp"
#include "client/engine/engine_impl.hpp"
#include "crypto/certificate.hpp"
#include "crypto/key_schedule.hpp"

namespace vpn::client {
namespace {

constexpr Duration kAddressLookupInterval = seconds(5);
constexpr Duration kAddressLookupGap = milliseconds(200);

}  // namespace

RendezvousState* Engine::Impl::rendezvousByIndex(std::uint32_t index) {
  auto it = rv_by_index.find(index);
  return it == rv_by_index.end() ? nullptr : it->second;
}

bool Engine::Impl::anyRegistered() const {
  return std::any_of(rendezvous.begin(), rendezvous.end(),
                     [](const auto& rv) { return rv->session && rv->registered; });
}

void Engine::Impl::setRendezvous(Instant now, std::vector<protocol::Endpoint> endpoints) {
  std::sort(endpoints.begin(), endpoints.end());
  endpoints.erase(std::unique(endpoints.begin(), endpoints.end()), endpoints.end());
  // Drop servers no longer listed.
  for (auto it = rendezvous.begin(); it != rendezvous.end();) {
    if (std::find(endpoints.begin(), endpoints.end(), (*it)->endpoint) == endpoints.end()) {
      dropRendezvousPending(**it);
      dropRendezvousSession(**it);
      it = rendezvous.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& ep : endpoints) {
    bool known = std::any_of(rendezvous.begin(), rendezvous.end(),
                             [&](const auto& rv) { return rv->endpoint == ep; });
    if (!known) {
      auto rv = std::make_unique<RendezvousState>();
      rv->endpoint = ep;
      rendezvous.push_back(std::move(rv));
      connectRendezvous(*rendezvous.back(), now);
    }
  }
  options.rendezvous = std::move(endpoints);
}

void Engine::Impl::setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates) {
  if (candidates.size() > protocol::kMaxCandidates) {
    candidates.resize(protocol::kMaxCandidates);
  }
  if (candidates == local_candidates) {
    return;
  }
  local_candidates = std::move(candidates);
  for (auto& rv : rendezvous) {
    if (rv->session) {
      sendRegister(*rv, now);
    }
  }
}

void Engine::Impl::connectRendezvous(RendezvousState& rv, Instant now) {
  dropRendezvousPending(rv);
  rv.retry_at = kNever;
  Handshake::Params params;
  params.role = crypto::TlsSession::Role::kClient;
  params.own_name = options.own_name;
  params.peer_name = "";  // any certificate of our CA; the role is checked on completion
  params.local_index = newIndex();
  params.endpoint = rv.endpoint;
  params.timeout = options.handshake_timeout;
  try {
    rv.pending = std::make_unique<Handshake>(tls, std::move(params), now);
  } catch (const std::exception& e) {
    failRendezvous(rv, now, std::string("handshake failed: ") + e.what());
    return;
  }
  rv_by_index[rv.pending->localIndex()] = &rv;
  rv.pending->begin(now);
  serveRendezvousPending(rv, now);
}

void Engine::Impl::dropRendezvousPending(RendezvousState& rv) {
  if (!rv.pending) {
    return;
  }
  rv_by_index.erase(rv.pending->localIndex());
  rv.pending.reset();
}

void Engine::Impl::dropRendezvousSession(RendezvousState& rv) {
  if (!rv.session) {
    return;
  }
  rv_by_index.erase(rv.session->local_index);
  rv.session.reset();
  rv.registered = false;
  rv.next_register_at = kNever;
}

void Engine::Impl::failRendezvous(RendezvousState& rv, Instant now, std::string reason) {
  if (rv.pending) {
    rv.pending->fail(reason);
    rv.pending->flush(now, sink);  // best effort: a TLS alert may be queued
  }
  dropRendezvousPending(rv);
  rv.last_error = std::move(reason);
  if (!rv.session) {
    rv.retry_at = now + rv.retry_backoff;
    rv.retry_backoff = std::min<Duration>(kMaxRetryBackoff, rv.retry_backoff * 2);
  }
}

void Engine::Impl::serveRendezvousPending(RendezvousState& rv, Instant now) {
  if (!rv.pending) {
    return;
  }
  rv.pending->flush(now, sink);
  switch (rv.pending->state()) {
    case Handshake::State::kEstablished:
      completeRendezvous(rv, now);
      break;
    case Handshake::State::kFailed:
      failRendezvous(rv, now, "handshake failed: " + rv.pending->failureReason());
      break;
    case Handshake::State::kHandshaking:
      break;
  }
}

void Engine::Impl::completeRendezvous(RendezvousState& rv, Instant now) {
  crypto::TlsSession& tls_session = rv.pending->tls();
  const crypto::CertIdentity& id = tls_session.peerIdentity();
  if (!id.rendezvous_role) {
    failRendezvous(rv, now, "handshake failed: certificate of '" + id.name +
                                "' does not carry the rendezvous role");
    drops.add(DropReason::kHandshakeFailed);
    return;
  }
  auto secrets = crypto::exportSessionSecrets(tls_session);
  if (!secrets) {
    failRendezvous(rv, now, "handshake failed: cannot export data keys");
    return;
  }
  auto keys = DataKeys::create(tls_session.negotiatedCipher(), *secrets, true, now);
  secrets->client_to_server.wipe();
  secrets->server_to_client.wipe();
  if (!keys) {
    failRendezvous(rv, now, "handshake failed: cannot create data ciphers");
    return;
  }
  std::unique_ptr<Handshake> hs = std::move(rv.pending);
  dropRendezvousSession(rv);
  auto s = PeerSession::establish(std::move(hs), std::move(keys), now, timing());
  rv_by_index[s->local_index] = &rv;
  rv.session = std::move(s);
  rv.retry_backoff = seconds(1);
  rv.retry_at = kNever;
  rv.last_error.clear();
  sendRegister(rv, now);
}

bool Engine::Impl::onRendezvousHandshake(Instant now, const protocol::Endpoint& /*from*/,
                                         const protocol::HandshakePacket& p) {
  RendezvousState* rv = rendezvousByIndex(p.receiver_index);
  if (rv == nullptr) {
    return false;
  }
  if (rv->pending && rv->pending->localIndex() == p.receiver_index) {
    Handshake& hs = *rv->pending;
    if (hs.remoteIndex() != 0 && hs.remoteIndex() != p.sender_index) {
      drops.add(DropReason::kUnknownIndex);
      return true;
    }
    hs.onPacket(now, p);
    serveRendezvousPending(*rv, now);
    return true;
  }
  if (rv->session && rv->session->local_index == p.receiver_index &&
      rv->session->remote_index == p.sender_index && rv->session->linger) {
    Handshake& hs = *rv->session->linger;
    hs.onPacket(now, p);
    hs.flush(now, sink);
    if (hs.state() == Handshake::State::kFailed) {
      std::string reason = "handshake failed: " + hs.failureReason();
      dropRendezvousSession(*rv);
      failRendezvous(*rv, now, std::move(reason));
      drops.add(DropReason::kHandshakeFailed);
    }
    return true;
  }
  drops.add(DropReason::kUnknownIndex);
  return true;
}

bool Engine::Impl::onRendezvousSealed(Instant now, const protocol::Endpoint& from,
                                      const protocol::DataHeader& header,
                                      std::span<std::uint8_t> datagram) {
  RendezvousState* rvp = rendezvousByIndex(header.receiver_index);
  if (rvp == nullptr) {
    return false;
  }
  RendezvousState& rv = *rvp;
  if (!rv.session || rv.session->local_index != header.receiver_index) {
    drops.add(header.control ? DropReason::kControlRejected : DropReason::kUnknownIndex);
    return true;
  }
  PeerSession& s = *rv.session;
  auto r = s.keys->open(now, header, datagram, s.keyGrace());
  if (r.status == DataKeys::OpenStatus::kReplay) {
    drops.add(DropReason::kReplay);
    return true;
  }
  if (r.status != DataKeys::OpenStatus::kOk) {
    drops.add(header.control ? DropReason::kControlRejected : DropReason::kAuthFailed);
    return true;
  }
  s.last_rx = now;
  if (r.rotated) {
    sendRendezvousKeepalive(rv, now, 0, 0);
  }
  if (r.newest && !(from == s.endpoint)) {
    s.endpoint = from;
  }
  auto plain = datagram.subspan(protocol::kDataHeaderSize,
                                datagram.size() - protocol::kDataOverhead);
  if (header.control) {
    auto msg = protocol::parseControl(plain);
    if (!msg) {
      drops.add(DropReason::kControlRejected);
      return true;
    }
    onControlMessage(rv, now, *msg);
    return true;
  }
  if (!header.keepalive) {
    drops.add(DropReason::kControlRejected);  // a rendezvous carries no tunnel data (yet)
    return true;
  }
  bool malformed = false;
  if (auto token = s.onKeepalive(now, plain, malformed)) {
    sendRendezvousKeepalive(rv, now, kLivenessReply, *token);
  }
  if (malformed) {
    drops.add(DropReason::kMalformed);
  }
  return true;
}

void Engine::Impl::onControlPacket(Instant now, const protocol::Endpoint& from,
                                   std::span<std::uint8_t> datagram) {
  auto header = protocol::parseSealedHeader(datagram);
  if (!header || !header->control) {
    drops.add(DropReason::kControlRejected);
    return;
  }
  if (!onRendezvousSealed(now, from, *header, datagram)) {
    drops.add(DropReason::kControlRejected);
  }
}

void Engine::Impl::onControlMessage(RendezvousState& rv, Instant now,
                                    const protocol::ControlMessage& msg) {
  if (const auto* reg = std::get_if<protocol::RegisteredMsg>(&msg)) {
    bool first = !rv.registered;
    rv.registered = true;
    rv.reflexive = reg->reflexive;
    rv.refresh = seconds(std::max<int>(5, reg->refresh_seconds));
    rv.next_register_at = now + std::min(options.register_refresh, rv.refresh);
    if (first) {
      // A new place to ask: peers waiting for an introduction may ask now.
      for (auto& p : peers) {
        if (needsIntroduction(*p, now) && p->lookup_at == kNever) {
          p->lookup_at = now;
        }
      }
    }
    return;
  }
  if (const auto* intro = std::get_if<protocol::IntroduceMsg>(&msg)) {
    onIntroduce(now, *intro);
    return;
  }
  if (const auto* failed = std::get_if<protocol::LookupFailedMsg>(&msg)) {
    onLookupFailed(now, *failed);
    return;
  }
  drops.add(DropReason::kControlRejected);  // REGISTER / LOOKUP are ours to send, not receive
}

bool Engine::Impl::sendControl(RendezvousState& rv, Instant now,
                               const protocol::ControlMessage& msg) {
  if (!rv.session) {
    return false;
  }
  std::array<std::uint8_t, protocol::kDataOverhead + protocol::kMaxControlPayload> buf{};
  std::size_t n = protocol::serializeControl(
      msg, std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize,
                                                protocol::kMaxControlPayload));
  if (n == 0) {
    return false;
  }
  PeerSession& s = *rv.session;
  auto packet = std::span<std::uint8_t>(buf).first(protocol::kDataOverhead + n);
  if (!s.keys->sealControl(s.remote_index, packet, n)) {
    drops.add(DropReason::kTxTooBig);
    return false;
  }
  sink.sendDatagram(s.endpoint, packet);
  s.last_tx = now;
  return true;
}

void Engine::Impl::sendRendezvousKeepalive(RendezvousState& rv, Instant now, std::uint8_t kind,
                                           std::uint64_t token) {
  PeerSession& s = *rv.session;
  std::array<std::uint8_t, protocol::kDataOverhead + kLivenessSize> buf{};
  std::size_t len = 0;
  if (kind != 0) {
    ByteWriter w(std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize,
                                                      kLivenessSize));
    w.u8(kind);
    w.u64(token);
    len = kLivenessSize;
  }
  auto packet = std::span<std::uint8_t>(buf).first(protocol::kDataOverhead + len);
  if (s.keys->seal(true, s.remote_index, packet, len)) {
    sink.sendDatagram(s.endpoint, packet);
    s.last_tx = now;
  }
}

void Engine::Impl::sendRegister(RendezvousState& rv, Instant now) {
  protocol::RegisterMsg reg;
  for (const auto& ep : local_candidates) {
    reg.candidates.push_back({protocol::CandidateKind::kLocal, ep});
  }
  sendControl(rv, now, reg);
  // Until REGISTERED arrives, resend soon; after, every refresh interval.
  rv.next_register_at = now + (rv.registered ? std::min(options.register_refresh, rv.refresh)
                                             : std::min<Duration>(options.register_refresh,
                                                                  seconds(2)));
}

void Engine::Impl::serviceRendezvous(RendezvousState& rv, Instant now) {
  if (rv.pending) {
    if (rv.pending->timedOut(now)) {
      failRendezvous(rv, now, "handshake timed out after " +
                                  std::to_string(static_cast<long long>(
                                      toSeconds(options.handshake_timeout))) + " s");
    } else {
      serveRendezvousPending(rv, now);
    }
  }
  if (rv.session) {
    PeerSession& s = *rv.session;
    if (now - s.last_rx >= options.dead_peer_timeout) {
      dropRendezvousSession(rv);
      rv.last_error = "rendezvous unresponsive: no authenticated packet for " +
                      std::to_string(static_cast<long long>(
                          toSeconds(options.dead_peer_timeout))) + " s";
      if (!rv.pending) {
        connectRendezvous(rv, now);
      }
      return;
    }
    if (auto token = s.upkeep(now, timing(), sink, next_probe_token)) {
      sendRendezvousKeepalive(rv, now, kLivenessRequest, *token);
    }
    if (now >= rv.next_register_at) {
      sendRegister(rv, now);
    }
  }
  if (!rv.session && !rv.pending && rv.retry_at <= now) {
    connectRendezvous(rv, now);
  }
}

void Engine::Impl::sendLookup(Instant now, const protocol::LookupMsg& msg) {
  for (auto& rv : rendezvous) {
    if (rv->session && rv->registered) {
      sendControl(*rv, now, msg);
    }
  }
}

void Engine::Impl::lookupAddress(Instant now, const protocol::IpAddress& address) {
  if (!anyRegistered()) {
    return;
  }
  // Per address at most every kAddressLookupInterval, and overall at most one per
  // kAddressLookupGap, so scanning the overlay cannot flood the rendezvous.
  if (last_address_lookup != Instant{} && now - last_address_lookup < kAddressLookupGap) {
    return;
  }
  for (const auto& l : address_lookups) {
    if (l.address == address && l.at != Instant{} && now - l.at < kAddressLookupInterval) {
      return;
    }
  }
  last_address_lookup = now;
  address_lookups[next_address_lookup] = {address, now};
  next_address_lookup = (next_address_lookup + 1) % address_lookups.size();
  protocol::LookupMsg msg;
  msg.request_id = next_lookup_id++;
  msg.address = address;
  sendLookup(now, msg);
}

}  // namespace vpn::client
