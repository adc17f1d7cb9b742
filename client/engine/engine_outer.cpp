// The network key at the peer (docs/hardening.md, "Network key"): with one configured, every
// handshake packet and cookie reply leaves sealed and only sealed ones are opened, so a host
// without the key gets no answer. Each kind of mismatch is logged once; the drop counters keep
// the running count.
#include "base/log.hpp"
#include "client/engine/engine_impl.hpp"

namespace vpn::client {

std::span<const std::uint8_t> Engine::Impl::outerForm(std::span<const std::uint8_t> bytes) {
  if (!outer || !protocol::sealable(bytes)) {
    return bytes;
  }
  std::size_t n = outer->seal(bytes, seal_scratch);
  return std::span<const std::uint8_t>(seal_scratch.data(), n);
}

void Engine::Impl::onSealed(Instant now, const Path& from, std::span<std::uint8_t> datagram) {
  if (!outer) {
    drops.add(DropReason::kNetworkKeyUnexpected);
    reportOuter(OuterProblem::kUnexpected, from);
    return;
  }
  std::span<std::uint8_t> inner = outer->open(datagram);
  if (inner.empty()) {
    drops.add(DropReason::kNetworkKeyMismatch);
    reportOuter(OuterProblem::kMismatch, from);
    return;
  }
  switch (protocol::classify(inner)) {
    case protocol::PacketFamily::kHandshake:
      onHandshake(now, from, inner);
      return;
    case protocol::PacketFamily::kCookieReply:
      if (!from.relayed()) {  // a relayed handshake is never asked for a cookie
        onCookieReply(now, from, inner);
        return;
      }
      break;
    case protocol::PacketFamily::kStun:
      if (onStunAnswer(now, from, inner)) {  // the rendezvous seals its answer to a sealed request
        return;
      }
      break;
    default:
      break;
  }
  drops.add(DropReason::kMalformed);
}

bool Engine::Impl::refuseUnsealed(const Path& from) {
  if (!outer) {
    return false;
  }
  drops.add(DropReason::kNetworkKeyMissing);
  reportOuter(OuterProblem::kMissing, from);
  return true;
}

void Engine::Impl::reportOuter(OuterProblem problem, const Path& from) {
  bool& done = outer_reported[static_cast<std::size_t>(problem)];
  if (done) {
    return;
  }
  done = true;
  const std::string where = from.toString();
  switch (problem) {
    case OuterProblem::kMismatch:
      LOG_WARN("dropped a sealed packet from %s: it does not open with our network key "
               "(fingerprint %s); the sender has another key, or is not a member. Reported once; "
               "drops count as network_key_mismatch",
               where.c_str(), outer->fingerprint().c_str());
      break;
    case OuterProblem::kMissing:
      LOG_WARN("dropped a handshake packet from %s: it is not sealed, and this peer requires the "
               "network key; the sender has no network key configured. Reported once; drops count "
               "as network_key_missing",
               where.c_str());
      break;
    case OuterProblem::kUnexpected:
      LOG_WARN("dropped a sealed packet from %s: the sender uses a network key and this peer has "
               "none (set network_key in the peer file). Reported once; drops count as "
               "network_key_unexpected",
               where.c_str());
      break;
  }
}

}  // namespace vpn::client
