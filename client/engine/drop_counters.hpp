#pragma once
// Why the engine dropped something. A fixed enum so the per-packet path only increments an array
// slot; the names are stable (they appear in `vpnpeer status --json`).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vpn::client {

enum class DropReason : std::uint8_t {
  kMalformed,
  kUnknownType,
  kUnknownIndex,
  kReplay,
  kAuthFailed,
  kBadInnerSource,
  kBadInnerPacket,
  kNoRoute,
  kNoSession,
  kUnknownPeer,
  kHandshakeFailed,
  kRateLimited,
  kStunUnsupported,
  kTxTooBig,
  kPunchRejected,   // a punch probe with an unknown intro id or a bad tag
  kControlRejected, // a control packet we cannot use (bad index, bad message, unexpected type)
  kRelayRejected,   // a relay packet not from a rendezvous we hold a session with, or a bad inner
  kUnpadded,        // a HELLO or KICK shorter than kMinInitialPacket (its answer would amplify)
  kBadCookie,       // a ClientHello echoing a cookie we did not make for it (answered anew)
  kKeyExhausted,    // a packet not sealed: the send key is at its AEAD limit, the update unconfirmed
  kNetworkKeyMismatch,    // a sealed packet that does not open with our network key
  kNetworkKeyMissing,     // a plain handshake or cookie reply while we require the network key
  kNetworkKeyUnexpected,  // a sealed packet while we have no network key
  kTooBigForPath,         // an inner packet above the path's MTU, refused with ICMP "too big"
  kCount,
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

std::string_view toString(DropReason r);

class DropCounters {
 public:
  void add(DropReason r) { counts_[static_cast<std::size_t>(r)]++; }
  std::uint64_t get(DropReason r) const { return counts_[static_cast<std::size_t>(r)]; }

 private:
  std::array<std::uint64_t, kDropReasonCount> counts_{};
};

}  // namespace vpn::client
