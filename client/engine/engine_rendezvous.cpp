// Sessions with rendezvous servers: establishing them (we are always the TLS client; the server's
// certificate must carry the rendezvous role) over UDP, or over TCP when UDP gets no answer for
// udp_timeout (UDP is retried every minute meanwhile), keepalives and dead-peer detection,
// registration of our candidates and NAT type, lookups, and dispatching the control messages
// they send us.
#include <algorithm>

#include "base/byte_io.hpp"
#include "client/engine/engine_impl.hpp"
#include "crypto/certificate.hpp"
#include "crypto/key_schedule.hpp"

namespace vpn::client {
namespace {

constexpr Duration kAddressLookupInterval = seconds(5);
constexpr Duration kAddressLookupGap = milliseconds(200);
constexpr Duration kUdpProbeGap = seconds(1);      // liveness probes while UDP is unanswered

std::string secondsWord(Duration d) {
  return std::to_string(static_cast<long long>(toSeconds(d))) + " s";
}

}  // namespace

RendezvousState* Engine::Impl::rendezvousByIndex(std::uint32_t index) {
  auto it = rv_by_index.find(index);
  return it == rv_by_index.end() ? nullptr : it->second;
}

RendezvousState* Engine::Impl::rendezvousAt(const Path& from) {
  for (auto& rv : rendezvous) {
    Path at = rv->path();
    if (at.transport == from.transport && at.endpoint == from.endpoint) {
      return rv.get();
    }
  }
  return nullptr;
}

bool Engine::Impl::anyRegistered() const {
  return std::any_of(rendezvous.begin(), rendezvous.end(),
                     [](const auto& rv) { return rv->session && rv->registered; });
}

bool Engine::Impl::anyToAsk() const {
  return std::any_of(rendezvous.begin(), rendezvous.end(),
                     [](const auto& rv) { return rv->session != nullptr; });
}


void Engine::Impl::connectRendezvous(RendezvousState& rv, Instant now) {
  dropRendezvousPending(rv);
  rv.on_alt = false;  // the preferred family first again; the race falls back within 250 ms
  rv.retry_at = kNever;
  try {
    rv.pending = newRendezvousHandshake(rv, rv.path().endpoint, now);
  } catch (const std::exception& e) {
    failRendezvous(rv, now, std::string("handshake failed: ") + e.what());
    return;
  }
  rv_by_index[rv.pending->localIndex()] = &rv;
  rv.pending->begin(now);
  serveRendezvousPending(rv, now);
}

void Engine::Impl::dropRendezvousPending(RendezvousState& rv) {
  dropAltRace(rv);
  if (!rv.pending) {
    return;
  }
  rv_by_index.erase(rv.pending->localIndex());
  rv.pending.reset();
}

void Engine::Impl::dropRendezvousSession(RendezvousState& rv, Instant now, const std::string& why) {
  if (!rv.session) {
    return;
  }
  rv_by_index.erase(rv.session->local_index);
  rv.session.reset();
  rv.registered = false;
  rv.next_register_at = kNever;
  rv.unanswered_since = kNever;
  rv.next_probe_at = kNever;
  onRelayServerLost(rv, now, why);
}

void Engine::Impl::failRendezvous(RendezvousState& rv, Instant now, std::string reason) {
  if (rv.pending) {
    rv.pending->fail(reason);
    PathSink out(*this, rv.path());
    rv.pending->flush(now, out);  // best effort: a TLS alert may be queued
  }
  dropRendezvousPending(rv);
  rv.last_error = std::move(reason);
  if (!rv.session && rv.transport == Transport::kTcp && rv.spec.tcp) {
    // TCP did not work either: the next attempt tries UDP first again, as onTcpClosed does.
    sink.closeTcp(*rv.spec.tcp);
    rv.transport = Transport::kUdp;
  }
  if (!rv.session) {
    rv.retry_at = now + rv.retry_backoff;
    rv.retry_backoff = std::min<Duration>(kMaxRetryBackoff, rv.retry_backoff * 2);
  }
}

void Engine::Impl::serveRendezvousPending(RendezvousState& rv, Instant now) {
  if (!rv.pending) {
    return;
  }
  PathSink out(*this, rv.path());
  rv.pending->flush(now, out);
  switch (rv.pending->state()) {
    case Handshake::State::kEstablished: {
      std::unique_ptr<Handshake> hs = std::move(rv.pending);
      rv_by_index.erase(hs->localIndex());
      completeRendezvous(rv, now, std::move(hs), rv.transport);
      break;
    }
    case Handshake::State::kFailed:
      failRendezvous(rv, now, "handshake failed: " + rv.pending->failureReason());
      break;
    case Handshake::State::kHandshaking:
      break;
  }
}

void Engine::Impl::completeRendezvous(RendezvousState& rv, Instant now,
                                      std::unique_ptr<Handshake> hs, Transport transport) {
  dropAltRace(rv);  // the preferred family won (when the alternate did, it is moved out already)
  if (!rv.on_alt) {
    rv.family_note.clear();
  }
  crypto::TlsSession& tls_session = hs->tls();
  const crypto::CertIdentity& id = tls_session.peerIdentity();
  std::string error;
  std::unique_ptr<DataKeys> keys;
  if (!id.rendezvous_role) {
    error = "handshake failed: certificate of '" + id.name + "' does not carry the rendezvous role";
    drops.add(DropReason::kHandshakeFailed);
  } else if (std::string problem = certificateProblem(id, now); !problem.empty()) {
    error = "handshake failed: " + problem;
    drops.add(DropReason::kHandshakeFailed);
  } else if (auto secrets = crypto::exportSessionSecrets(tls_session); !secrets) {
    error = "handshake failed: cannot export data keys";
  } else {
    keys = DataKeys::create(tls_session.negotiatedCipher(), *secrets, true, now);
    secrets->client_to_server.wipe();
    secrets->server_to_client.wipe();
    if (!keys) {
      error = "handshake failed: cannot create data ciphers";
    }
  }
  if (!error.empty()) {
    if (transport == rv.transport) {
      rv.pending = std::move(hs);
      rv_by_index[rv.pending->localIndex()] = &rv;
      failRendezvous(rv, now, error);
    } else {
      rv.last_error = error;  // a failed UDP trial: stay on TCP
      rv.udp_trial_at = now + kUdpRetry;
    }
    return;
  }
  bool switched = transport != rv.transport;
  if (rv.session) {
    dropRendezvousSession(rv, now, switched ? "the rendezvous answers over UDP again"
                                            : "the rendezvous session was replaced");
  }
  if (switched) {
    if (rv.transport == Transport::kTcp && rv.spec.tcp) {
      sink.closeTcp(*rv.spec.tcp);
    }
    dropRendezvousPending(rv);
    rv.transport = transport;
  }
  rv.cert_fingerprint = id.fingerprint;
  rv.cert_expires_at = expiryInstant(id, now);
  auto s = PeerSession::establish(std::move(hs), std::move(keys), now, timing(), rv.path());
  rv_by_index[s->local_index] = &rv;
  rv.session = std::move(s);
  rv.retry_backoff = seconds(1);
  rv.retry_at = kNever;
  // On TCP, the error stays as the reason we are there.
  rv.last_error = rv.transport == Transport::kTcp ? rv.tcp_reason : std::string();
  if (switched && transport == Transport::kUdp) {
    // UDP works again here: relayed peers try a direct path as soon as we are registered.
    for (auto& p : peers) {
      if (p->session && p->session->path.kind() != PathKind::kDirectUdp) {
        p->want_direct_lookup = true;
        p->direct_retry_backoff = options.direct_retry;
        p->direct_retry_at = now + options.direct_retry;
      }
    }
  }
  rv.unanswered_since = kNever;
  rv.next_probe_at = kNever;
  sendRegister(rv, now);
  // Lookups follow the REGISTER at once, in the same flight: the server handles them in order,
  // so waiting for REGISTERED would only add a round trip to the set-up.
  for (auto& p : peers) {
    if (needsIntroduction(*p, now) && p->lookup_at == kNever) {
      p->lookup_at = now;
    }
  }
  if (rv.transport == Transport::kTcp) {
    rv.udp_trial_at = now + (rv.first_udp_trial ? kFirstUdpTrial : kUdpRetry);
    rv.first_udp_trial = false;
  } else {
    rv.udp_trial_at = kNever;
  }
}

bool Engine::Impl::onRendezvousHandshake(Instant now, const Path& /*from*/,
                                         const protocol::HandshakePacket& p) {
  RendezvousState* rv = rendezvousByIndex(p.receiver_index);
  if (rv == nullptr) {
    return false;
  }
  auto feed = [&](Handshake& hs) {
    if (hs.remoteIndex() != 0 && hs.remoteIndex() != p.sender_index) {
      drops.add(DropReason::kUnknownIndex);
      return false;
    }
    hs.onPacket(now, p);
    return true;
  };
  if (rv->pending && rv->pending->localIndex() == p.receiver_index) {
    rv->unanswered_since = kNever;
    if (feed(*rv->pending)) {
      serveRendezvousPending(*rv, now);
    }
    return true;
  }
  if (rv->udp_trial && rv->udp_trial->localIndex() == p.receiver_index) {
    if (feed(*rv->udp_trial)) {
      serviceUdpTrial(*rv, now);
    }
    return true;
  }
  if (rv->alt_race && rv->alt_race->localIndex() == p.receiver_index) {
    if (feed(*rv->alt_race)) {
      serviceAltRace(*rv, now);
    }
    return true;
  }
  if (rv->session && rv->session->local_index == p.receiver_index &&
      rv->session->remote_index == p.sender_index && rv->session->linger) {
    Handshake& hs = *rv->session->linger;
    hs.onPacket(now, p);
    PathSink out(*this, rv->session->path);
    hs.flush(now, out);
    if (hs.state() == Handshake::State::kFailed) {
      std::string reason = "handshake failed: " + hs.failureReason();
      dropRendezvousSession(*rv, now, reason);
      failRendezvous(*rv, now, std::move(reason));
      drops.add(DropReason::kHandshakeFailed);
    }
    return true;
  }
  drops.add(DropReason::kUnknownIndex);
  return true;
}

bool Engine::Impl::onRendezvousSealed(Instant now, const Path& /*from*/,
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
  rv.unanswered_since = kNever;
  rv.next_probe_at = kNever;
  if (r.rotated) {
    sendRendezvousKeepalive(rv, now, 0, 0);
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
    drops.add(DropReason::kControlRejected);  // a rendezvous carries no tunnel data of its own
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

void Engine::Impl::onControlPacket(Instant now, const Path& from, std::span<std::uint8_t> datagram) {
  auto header = protocol::parseSealedHeader(datagram);
  if (!header || !header->control || from.relayed()) {
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
    if (rv.spec.udp_alt) {
      // Each registration: the server keeps our other family's endpoint for 3 refreshes.
      rv.also_here_request = next_lookup_id++;
      Path alt = Path::udp(rv.on_alt ? rv.spec.udp : *rv.spec.udp_alt);
      sendControl(rv, now, protocol::AlsoHereMsg{rv.also_here_request}, &alt);
    }
    if (first) {
      // A new place to ask: peers waiting for an introduction or a relay may ask now.
      for (auto& p : peers) {
        if (needsIntroduction(*p, now) && p->lookup_at == kNever) {
          p->lookup_at = now;
        }
        if (options.relay && p->relay.state != RelayBinding::State::kBound) {
          p->relay.next_at = now;
        }
      }
    }
    return;
  }
  if (const auto* intro = std::get_if<protocol::IntroduceMsg>(&msg)) {
    onIntroduce(now, *intro);
    return;
  }
  if (const auto* hello = std::get_if<protocol::HelloFromMsg>(&msg)) {
    onHelloFrom(now, *hello);
    return;
  }
  if (const auto* seen = std::get_if<protocol::SeenHereMsg>(&msg)) {
    if (seen->request_id == 0 || seen->request_id != rv.also_here_request) {
      drops.add(DropReason::kControlRejected);
      return;
    }
    rv.reflexive_alt = seen->reflexive;
    rv.reflexive_alt_at = now;
    return;
  }
  if (const auto* failed = std::get_if<protocol::LookupFailedMsg>(&msg)) {
    onLookupFailed(now, *failed);
    return;
  }
  if (const auto* bound = std::get_if<protocol::RelayBoundMsg>(&msg)) {
    onRelayBound(rv, now, *bound);
    return;
  }
  if (const auto* rfail = std::get_if<protocol::RelayFailedMsg>(&msg)) {
    onRelayFailed(rv, now, *rfail);
    return;
  }
  drops.add(DropReason::kControlRejected);  // REGISTER / LOOKUP / RELAY_REQUEST are ours to send
}

void Engine::Impl::sendToRendezvous(RendezvousState& rv, Instant now,
                                    std::span<const std::uint8_t> bytes, bool expects_answer) {
  PeerSession& s = *rv.session;
  sendOnPath(s.path, bytes);
  s.last_tx = now;
  if (expects_answer && rv.transport == Transport::kUdp && rv.unanswered_since == kNever) {
    rv.unanswered_since = now;
    rv.next_probe_at = now + kUdpProbeGap;
  }
}

bool Engine::Impl::sendControl(RendezvousState& rv, Instant now,
                               const protocol::ControlMessage& msg, const Path* via) {
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
  if (via != nullptr) {
    sendOnPath(*via, packet);
  } else {
    sendToRendezvous(rv, now, packet, true);
  }
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
    sendToRendezvous(rv, now, packet, kind == kLivenessRequest);
  }
}

void Engine::Impl::sendRegister(RendezvousState& rv, Instant now) {
  protocol::RegisterMsg reg;
  if (mapped_candidate) {
    // First: the one candidate anyone can reach, whatever the NAT does to other traffic.
    reg.candidates.push_back({protocol::CandidateKind::kMapped, *mapped_candidate});
  }
  for (const auto& ep : local_candidates) {
    if (reg.candidates.size() < protocol::kMaxCandidates) {
      reg.candidates.push_back({protocol::CandidateKind::kLocal, ep});
    }
  }
  for (const auto& ep : tcp_candidates) {
    if (reg.candidates.size() < protocol::kMaxCandidates) {
      reg.candidates.push_back({protocol::CandidateKind::kTcp, ep});
    }
  }
  reg.nat_type = nat_type;
  sendControl(rv, now, reg);
  // Until REGISTERED arrives, resend soon; after, every refresh interval.
  rv.next_register_at = now + (rv.registered ? std::min(options.register_refresh, rv.refresh)
                                             : std::min<Duration>(options.register_refresh,
                                                                  seconds(2)));
}

void Engine::Impl::serviceRendezvous(RendezvousState& rv, Instant now) {
  bool can_tcp = rv.transport == Transport::kUdp && rv.spec.tcp.has_value();
  if (rv.pending) {
    if (can_tcp && !rv.pending->receivedAnything() &&
        now - rv.pending->startedAt() >= options.udp_timeout) {
      switchRendezvousToTcp(rv, now, "no answer over UDP for " + secondsWord(options.udp_timeout));
      return;
    }
    if (rv.pending->timedOut(now)) {
      failRendezvous(rv, now, "handshake timed out after " + secondsWord(options.handshake_timeout));
    } else {
      serveRendezvousPending(rv, now);
    }
  }
  serviceAltRace(rv, now);
  if (rv.session && now >= rv.cert_expires_at) {
    dropRendezvousSession(rv, now, "its certificate expired");
    rv.last_error = "the server's certificate expired";
    return;
  }
  if (rv.session) {
    PeerSession& s = *rv.session;
    if (now - s.last_rx >= options.dead_peer_timeout) {
      std::string why = "rendezvous unresponsive: no authenticated packet for " +
                        secondsWord(options.dead_peer_timeout);
      dropRendezvousSession(rv, now, why);
      rv.last_error = why;
      if (!rv.pending) {
        connectRendezvous(rv, now);
      }
      return;
    }
    if (can_tcp && rv.unanswered_since != kNever) {
      if (now - rv.unanswered_since >= options.udp_timeout) {
        switchRendezvousToTcp(rv, now,
                              "no answer over UDP for " + secondsWord(options.udp_timeout));
        return;
      }
      if (now >= rv.next_probe_at) {
        rv.next_probe_at = now + kUdpProbeGap;
        s.probe_token = next_probe_token++;
        s.probe_sent_at = now;
        s.probe_outstanding = true;
        sendRendezvousKeepalive(rv, now, kLivenessRequest, s.probe_token);
      }
    }
    PathSink out(*this, s.path);
    if (auto token = s.upkeep(now, timing(), out, next_probe_token)) {
      sendRendezvousKeepalive(rv, now, kLivenessRequest, *token);
    }
    if (now >= rv.next_register_at) {
      sendRegister(rv, now);
    }
    if (rv.transport == Transport::kTcp) {
      serviceUdpTrial(rv, now);
    }
  }
  if (!rv.session && !rv.pending && rv.retry_at <= now) {
    connectRendezvous(rv, now);
  }
}

void Engine::Impl::sendLookup(Instant now, const protocol::LookupMsg& msg) {
  sent_lookups[next_sent_lookup] = {msg.request_id, now};
  next_sent_lookup = (next_sent_lookup + 1) % sent_lookups.size();
  for (auto& rv : rendezvous) {
    if (rv->session) {  // REGISTER went first on it (completeRendezvous)
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
