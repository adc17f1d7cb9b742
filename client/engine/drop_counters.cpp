#include "client/engine/drop_counters.hpp"

namespace vpn::client {

std::string_view toString(DropReason r) {
  switch (r) {
    case DropReason::kMalformed: return "malformed";
    case DropReason::kUnknownType: return "unknown_type";
    case DropReason::kUnknownIndex: return "unknown_index";
    case DropReason::kReplay: return "replay";
    case DropReason::kAuthFailed: return "auth_failed";
    case DropReason::kBadInnerSource: return "bad_inner_source";
    case DropReason::kBadInnerPacket: return "bad_inner_packet";
    case DropReason::kNoRoute: return "no_route";
    case DropReason::kNoSession: return "no_session";
    case DropReason::kUnknownPeer: return "unknown_peer";
    case DropReason::kHandshakeFailed: return "handshake_failed";
    case DropReason::kRateLimited: return "rate_limited";
    case DropReason::kStunUnsupported: return "stun_unsupported";
    case DropReason::kTxTooBig: return "tx_too_big";
    case DropReason::kPunchRejected: return "punch_rejected";
    case DropReason::kControlRejected: return "control_rejected";
    case DropReason::kRelayRejected: return "relay_rejected";
    case DropReason::kUnpadded: return "unpadded";
    case DropReason::kBadCookie: return "bad_cookie";
    case DropReason::kKeyExhausted: return "key_exhausted";
    case DropReason::kNetworkKeyMismatch: return "network_key_mismatch";
    case DropReason::kNetworkKeyMissing: return "network_key_missing";
    case DropReason::kNetworkKeyUnexpected: return "network_key_unexpected";
    case DropReason::kTooBigForPath: return "too_big_for_path";
    case DropReason::kCount: break;
  }
  return "unknown";
}

}  // namespace vpn::client
