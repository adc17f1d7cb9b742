// Port prediction (docs/paths.md rule 14): the birthday approach for a cone NAT facing a
// symmetric one. The peer behind the symmetric NAT (the opener) probes the other's reflexive
// endpoint from many extra sockets, so its NAT holds many mappings, each open to that one
// endpoint; the peer behind the cone NAT (the sprayer) probes random ports of the opener's public
// address from its tunnel socket. A sprayed probe that lands on one of those mappings reaches an
// opener socket, its reply comes back (the sprayer just sent there), and the session runs on that
// socket. With n sockets and m probes over r possible ports, the chance of no hit is about
// exp(-n*m/r): 256 sockets and 2048 probes over 64,512 ports leave 0.03 %.
// Both peers pick their role from the NAT types they and the rendezvous know, so they agree.
//
// Lockstep, for two symmetric NATs that allocate ports in sequence (step s): each side read its
// NAT's counter just before the introduction (engine_port_reading.cpp), and probes, from its
// tunnel socket, the ports the other's NAT hands out next: reading + s*1, + s*2, ... Each probe
// makes a new mapping on its own NAT too, so probe n of one side leaves from where the other's
// probe n aims, and the later of the two passes both NATs. Mappings made between a reading and
// the first probe (a punch to other candidates) shift each side's ports by a0 and b0; the TLS
// client also steps its targets one port further every kLockstepGroup probes, so that group
// a0 + b0 matches: 256 probes cover shifts up to 63 in total.
#include <algorithm>
#include <unordered_set>

#include "client/engine/engine_impl.hpp"
#include "crypto/random.hpp"

namespace vpn::client {
namespace {

constexpr Duration kSprayDelay = milliseconds(100);  // let the opener's mappings exist first
constexpr Duration kSprayTick = milliseconds(20);
constexpr Duration kOpenerRound = seconds(3);         // keeps the opener's mappings fresh
constexpr std::uint16_t kFirstPort = 1024;
constexpr std::size_t kLockstepGroup = 4;
constexpr std::size_t kLockstepProbes = 256;

// `count` distinct ports in [kFirstPort, 65535] other than `skip`, in random order.
std::vector<std::uint16_t> randomPorts(std::size_t count, std::uint16_t skip) {
  const std::size_t range = 65536 - kFirstPort;
  count = std::min(count, range - 1);
  std::vector<std::uint16_t> out;
  out.reserve(count);
  std::unordered_set<std::uint16_t> seen{skip};
  while (out.size() < count) {
    auto port = static_cast<std::uint16_t>(kFirstPort + crypto::randomU32() % range);
    if (seen.insert(port).second) {
      out.push_back(port);
    }
  }
  return out;
}

}  // namespace

std::vector<std::uint16_t> Engine::Impl::lockstepPorts(const protocol::PortReading& peer_reading,
                                                       std::size_t count, bool shift) {
  std::vector<std::uint16_t> out;
  out.reserve(count);
  for (std::size_t n = 1; n <= count; ++n) {
    std::size_t step = n + (shift ? (n - 1) / kLockstepGroup : 0);
    std::size_t port = peer_reading.port + step * peer_reading.stride;
    if (port > 65535) {
      break;  // the NAT wraps to its range's start, which we do not know
    }
    out.push_back(static_cast<std::uint16_t>(port));
  }
  return out;
}

void Engine::Impl::startPrediction(PeerState& peer, Instant now, protocol::NatType peer_nat,
                                   const std::optional<protocol::PortReading>& peer_reading) {
  releasePredictionSockets(peer, true);
  auto kept = std::move(peer.predict.locals);  // a session may still run on one of them
  peer.predict = PeerState::Prediction{};
  peer.predict.locals = std::move(kept);
  if (!options.port_prediction) {
    return;
  }
  bool opener = nat_type == protocol::NatType::kSymmetric && protocol::isConeLike(peer_nat);
  bool sprayer = protocol::isConeLike(nat_type) && peer_nat == protocol::NatType::kSymmetric;
  bool lockstep = sequentialNat() && peer_nat == protocol::NatType::kSymmetric && peer_reading;
  if (lockstep && !freshReading(now)) {
    // The peer looked us up: it has no reading of ours yet. Look it up in turn with one; the
    // introduction that answers reaches both of us at once, each with the other's reading.
    peer.announce_lookup = true;
    peer.lookup_at = now;
    return;
  }
  if (!opener && !sprayer && !lockstep) {
    return;
  }
  // The peer's public IPv4 endpoint, as the rendezvous saw it (IPv6 has no NAT to predict).
  auto it = std::find_if(peer.candidates.begin(), peer.candidates.end(), [](const auto& c) {
    return c.kind == PunchCandidate::Kind::kReflexive && c.endpoint.address().isV4();
  });
  if (it == peer.candidates.end() ||
      (options.udp_family && *options.udp_family != protocol::IpAddress::Family::kV4)) {
    return;
  }
  PeerState::Prediction& p = peer.predict;
  p.target = it->endpoint;
  p.started = now;
  if (opener) {
    auto opened = sink.openPredictionSockets(options.prediction_sockets,
                                             protocol::IpAddress::Family::kV4);
    if (opened.empty()) {
      return;
    }
    p.role = PeerState::Prediction::Role::kOpener;
    p.locals.insert(p.locals.end(), opened.begin(), opened.end());
    p.next_at = now;
    return;
  }
  if (lockstep) {
    p.role = PeerState::Prediction::Role::kLockstep;
    p.ports = lockstepPorts(*peer_reading,
                            std::min(options.prediction_probes, kLockstepProbes),
                            peer.we_are_client);
    p.answered.assign(p.ports.size(), false);
    p.first_seq = peer.punch_seq;
    peer.punch_seq += static_cast<std::uint32_t>(p.ports.size());
    p.next_at = now;  // both got the introduction at once: no head start to wait for
    return;
  }
  p.role = PeerState::Prediction::Role::kSprayer;
  p.ports = randomPorts(options.prediction_probes, p.target.port());
  p.answered.assign(p.ports.size(), false);
  p.first_seq = peer.punch_seq;
  peer.punch_seq += static_cast<std::uint32_t>(p.ports.size());
  p.next_at = now + kSprayDelay;
}

void Engine::Impl::servicePrediction(PeerState& peer, const Introduction& intro, Instant now) {
  PeerState::Prediction& p = peer.predict;
  if (p.role == PeerState::Prediction::Role::kNone || now < p.next_at) {
    return;
  }
  if (p.succeeded) {
    p.next_at = kNever;  // a predicted path answered: the rest of the budget stays unspent
    return;
  }
  if (p.role == PeerState::Prediction::Role::kOpener) {
    for (std::uint16_t local : p.locals) {
      sendProbe(intro, false, peer.punch_seq++, Path{Transport::kUdp, p.target, 0, local});
    }
    p.next_at = now + kOpenerRound;
    return;
  }
  // Sprayer and lockstep: no more than prediction_rate a second since the start, in 20 ms steps.
  auto elapsed = now - p.started -
                 (p.role == PeerState::Prediction::Role::kSprayer ? kSprayDelay : Duration{});
  auto allowed = static_cast<std::size_t>(toSeconds(elapsed) *
                                          static_cast<double>(options.prediction_rate)) + 1;
  allowed = std::min(allowed, p.ports.size());
  while (p.sent < allowed) {
    protocol::Endpoint to(p.target.address(), p.ports[p.sent]);
    sendProbe(intro, false, p.first_seq + static_cast<std::uint32_t>(p.sent), Path::udp(to));
    ++p.sent;
  }
  p.next_at = p.sent < p.ports.size() ? now + kSprayTick : kNever;
}

bool Engine::Impl::takePredictionReply(PeerState& peer, std::uint32_t seq, const Path& from) {
  PeerState::Prediction& p = peer.predict;
  if (from.transport != Transport::kUdp || from.relayed()) {
    return false;
  }
  if (p.role == PeerState::Prediction::Role::kSprayer ||
      p.role == PeerState::Prediction::Role::kLockstep) {
    std::uint32_t i = seq - p.first_seq;
    if (from.local != 0 || i >= p.sent || p.answered[i] ||
        !(from.endpoint == protocol::Endpoint(p.target.address(), p.ports[i])) ||
        (p.hit && !(*p.hit == from.endpoint))) {
      return false;  // not a sprayed port, or not the first one that answered
    }
    p.answered[i] = true;
    p.succeeded = true;
    p.hit = from.endpoint;
    return true;
  }
  if (p.role == PeerState::Prediction::Role::kOpener && from.local != 0 &&
      from.endpoint == p.target &&
      std::find(p.locals.begin(), p.locals.end(), from.local) != p.locals.end()) {
    p.succeeded = true;
    return true;
  }
  return false;
}

bool Engine::Impl::acceptPredictedPath(PeerState& peer, const Path& from) {
  PeerState::Prediction& p = peer.predict;
  if (p.chosen != 0) {
    return from.local == p.chosen;
  }
  if (std::find(p.locals.begin(), p.locals.end(), from.local) == p.locals.end()) {
    return false;
  }
  // The first hit: two sockets answering would show the peer two endpoints of ours, and its
  // session would follow whichever spoke last.
  p.chosen = from.local;
  p.succeeded = true;
  p.next_at = kNever;
  std::vector<std::uint16_t> used = usedLocals(peer);
  std::erase_if(p.locals, [&](std::uint16_t local) {
    if (local == p.chosen || std::find(used.begin(), used.end(), local) != used.end()) {
      return false;
    }
    sink.closePredictionSocket(local);
    return true;
  });
  return true;
}

std::vector<std::uint16_t> Engine::Impl::usedLocals(const PeerState& peer) const {
  std::vector<std::uint16_t> used;
  auto note = [&](const Path& path) {
    if (path.local != 0) {
      used.push_back(path.local);
    }
  };
  if (peer.session) {
    note(peer.session->path);
  }
  if (peer.pending) {
    note(peer.pending_path);
  }
  if (peer.rival) {
    note(peer.rival_path);
  }
  if (peer.validating) {
    note(*peer.validating);
  }
  if (peer.direct) {
    note(peer.direct->path);
  }
  return used;
}

void Engine::Impl::releasePredictionSockets(PeerState& peer, bool all_unused) {
  if (peer.predict.locals.empty()) {
    return;
  }
  // While the punch runs, sockets wait for a sprayed probe; after it, only used ones stay.
  if (!all_unused && peer.punch_until != kNever) {
    return;
  }
  std::vector<std::uint16_t> used = usedLocals(peer);
  std::erase_if(peer.predict.locals, [&](std::uint16_t local) {
    if (std::find(used.begin(), used.end(), local) != used.end()) {
      return false;
    }
    sink.closePredictionSocket(local);
    return true;
  });
}

}  // namespace vpn::client
