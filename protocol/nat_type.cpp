#include "protocol/nat_type.hpp"

namespace vpn::protocol {

std::string_view toString(NatType t) {
  switch (t) {
    case NatType::kUnknown: return "unknown";
    case NatType::kOpen: return "open";
    case NatType::kOpenWithFirewall: return "open-with-firewall";
    case NatType::kFullCone: return "full-cone";
    case NatType::kRestrictedCone: return "restricted-cone";
    case NatType::kFullOrRestrictedCone: return "full-or-restricted-cone";
    case NatType::kPortRestrictedCone: return "port-restricted-cone";
    case NatType::kSymmetric: return "symmetric";
    case NatType::kUdpBlocked: return "udp-blocked";
  }
  return "unknown";
}

NatType natTypeFromWire(std::uint8_t b) {
  if (b > static_cast<std::uint8_t>(NatType::kUdpBlocked)) {
    return NatType::kUnknown;
  }
  return static_cast<NatType>(b);
}

bool isConeLike(NatType t) {
  switch (t) {
    case NatType::kOpen:
    case NatType::kOpenWithFirewall:
    case NatType::kFullCone:
    case NatType::kRestrictedCone:
    case NatType::kFullOrRestrictedCone:
    case NatType::kPortRestrictedCone:
      return true;
    default:
      return false;
  }
}

}  // namespace vpn::protocol
