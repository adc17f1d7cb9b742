// Trying a rendezvous another way beside the session or attempt we have: over UDP again while on
// TCP (udp_trial, docs/paths.md rule 8), over the other IP family while the first address says
// nothing (alt_race, RFC 8305, rule 13), and the switch to TCP itself.
#include "client/engine/engine_impl.hpp"

namespace vpn::client {

std::unique_ptr<Handshake> Engine::Impl::newRendezvousHandshake(const RendezvousState& rv,
                                                                const protocol::Endpoint& to,
                                                                Instant now) {
  // A certificate of our CA with the name the peer file pins (any name when it pins none); the
  // role is checked on completion.
  Handshake::Params params;
  params.role = crypto::TlsSession::Role::kClient;
  params.own_name = options.own_name;
  params.peer_name = rv.spec.name.value_or("");
  params.local_index = newIndex();
  params.endpoint = to;
  params.timeout = options.handshake_timeout;
  return std::make_unique<Handshake>(tls, std::move(params), now);
}

void Engine::Impl::dropAltRace(RendezvousState& rv) {
  if (rv.alt_race) {
    rv_by_index.erase(rv.alt_race->localIndex());
    rv.alt_race.reset();
  }
}

void Engine::Impl::serviceAltRace(RendezvousState& rv, Instant now) {
  if (rv.alt_race) {
    Handshake& hs = *rv.alt_race;
    if (hs.timedOut(now) || hs.state() == Handshake::State::kFailed) {
      dropAltRace(rv);  // the primary attempt, still running, decides what happens next
      return;
    }
    PathSink out(*this, Path::udp(*rv.spec.udp_alt));
    hs.flush(now, out);
    if (hs.state() == Handshake::State::kEstablished) {
      std::unique_ptr<Handshake> done = std::move(rv.alt_race);
      rv_by_index.erase(done->localIndex());
      dropRendezvousPending(rv);  // the preferred family lost
      rv.on_alt = true;
      rv.family_note = rv.spec.udp.toString() + " gave no answer within " +
                       std::to_string(static_cast<long long>(
                           std::chrono::duration_cast<std::chrono::milliseconds>(kFamilyRaceDelay)
                               .count())) +
                       " ms; " + rv.spec.udp_alt->toString() + " answered first";
      completeRendezvous(rv, now, std::move(done), Transport::kUdp);
    }
    return;
  }
  if (!rv.pending || rv.session || rv.on_alt || rv.transport != Transport::kUdp ||
      !rv.spec.udp_alt || rv.pending->receivedAnything() ||
      now - rv.pending->startedAt() < kFamilyRaceDelay) {
    return;
  }
  if (options.udp_family && rv.spec.udp_alt->address().family() != *options.udp_family) {
    return;  // our socket cannot send there
  }
  try {
    rv.alt_race = newRendezvousHandshake(rv, *rv.spec.udp_alt, now);
  } catch (const std::exception&) {
    return;
  }
  rv_by_index[rv.alt_race->localIndex()] = &rv;
  rv.alt_race->begin(now);
  PathSink out(*this, Path::udp(*rv.spec.udp_alt));
  rv.alt_race->flush(now, out);
}

void Engine::Impl::switchRendezvousToTcp(RendezvousState& rv, Instant now, const std::string& why) {
  dropRendezvousPending(rv);
  dropRendezvousSession(rv, now, why);
  rv.transport = Transport::kTcp;
  rv.first_udp_trial = true;
  rv.tcp_reason = why + "; reaching it over TCP at " + rv.spec.tcp->toString();
  rv.last_error = rv.tcp_reason;
  // The backoff is kept: a server down on both transports is not tried faster by alternating.
  connectRendezvous(rv, now);
}

void Engine::Impl::serviceUdpTrial(RendezvousState& rv, Instant now) {
  if (rv.udp_trial) {
    Handshake& hs = *rv.udp_trial;
    bool silent = !hs.receivedAnything() && now - hs.startedAt() >= options.udp_timeout;
    if (silent || hs.timedOut(now) || hs.state() == Handshake::State::kFailed) {
      rv_by_index.erase(hs.localIndex());
      rv.udp_trial.reset();
      rv.udp_trial_at = now + kUdpRetry;
      return;
    }
    PathSink out(*this, Path::udp(rv.spec.udp));
    hs.flush(now, out);
    if (hs.state() == Handshake::State::kEstablished) {
      std::unique_ptr<Handshake> done = std::move(rv.udp_trial);
      rv_by_index.erase(done->localIndex());
      completeRendezvous(rv, now, std::move(done), Transport::kUdp);
    }
    return;
  }
  if (now < rv.udp_trial_at || !rv.session) {
    return;
  }
  rv.udp_trial_at = kNever;
  try {
    rv.udp_trial = newRendezvousHandshake(rv, rv.spec.udp, now);
  } catch (const std::exception&) {
    rv.udp_trial_at = now + kUdpRetry;
    return;
  }
  rv_by_index[rv.udp_trial->localIndex()] = &rv;
  rv.udp_trial->begin(now);
  PathSink out(*this, Path::udp(rv.spec.udp));
  rv.udp_trial->flush(now, out);
}

}  // namespace vpn::client
