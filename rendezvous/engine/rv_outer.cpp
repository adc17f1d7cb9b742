// The network key at the rendezvous (docs/hardening.md, "Network key"): with one configured,
// handshakes and STUN are served only sealed with it (answers leave sealed through SealingSink),
// so a host without the key gets no answer at all. Each kind of mismatch is logged once; the
// drop counters keep the running count.
#include "base/log.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {

void RendezvousEngine::Impl::onOuterSealed(Instant now, SocketId on,
                                           const protocol::Endpoint& from,
                                           std::span<std::uint8_t> bytes) {
  if (!outer) {
    drop(Drop::kNetworkKeyUnexpected);
    reportOuter(OuterProblem::kUnexpected, from);
    return;
  }
  std::span<std::uint8_t> inner = outer->open(bytes);
  if (inner.empty()) {
    drop(Drop::kNetworkKeyMismatch);
    reportOuter(OuterProblem::kMismatch, from);
    return;
  }
  switch (protocol::classify(inner)) {
    case protocol::PacketFamily::kStun:
      onStun(now, on, from, inner);
      return;
    case protocol::PacketFamily::kHandshake:
      if (on.role == SocketRole::kPrimary || on.role == SocketRole::kTcp) {
        onHandshake(now, on, from, inner);
      } else {
        drop(Drop::kUnknownFamily);  // the alternates are STUN-only
      }
      return;
    default:
      drop(Drop::kUnexpectedMessage);  // a sealed cookie reply: we never send a HELLO
      return;
  }
}

bool RendezvousEngine::Impl::refuseUnsealed(const protocol::Endpoint& from) {
  if (!outer) {
    return false;
  }
  drop(Drop::kNetworkKeyMissing);
  reportOuter(OuterProblem::kMissing, from);
  return true;
}

std::span<const std::uint8_t> RendezvousEngine::Impl::openRelayed(
    std::span<const std::uint8_t> sealed) {
  if (!outer || sealed.size() > relay_open.size()) {
    return {};
  }
  std::copy(sealed.begin(), sealed.end(), relay_open.begin());
  return outer->open(std::span<std::uint8_t>(relay_open.data(), sealed.size()));
}

void RendezvousEngine::Impl::reportOuter(OuterProblem problem, const protocol::Endpoint& from) {
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
      LOG_WARN("dropped a plain handshake or STUN packet from %s: this server requires the "
               "network key, and the sender has none configured (or is not a member). Reported "
               "once; drops count as network_key_missing",
               where.c_str());
      break;
    case OuterProblem::kUnexpected:
      LOG_WARN("dropped a sealed packet from %s: the sender uses a network key and this server "
               "has none (set network_key in the rendezvous file). Reported once; drops count "
               "as network_key_unexpected",
               where.c_str());
      break;
  }
}

}  // namespace vpn::rendezvous
