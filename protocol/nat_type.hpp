#pragma once
// NatType: what a peer found out about the NAT in front of it (netcheck), announced to the
// rendezvous in REGISTER and passed on in INTRODUCE so the other side can judge whether punching
// can work. One byte on the wire; values this build does not know read as kUnknown, so newer
// peers can add kinds. Pure values, no I/O.
#include <cstdint>
#include <string_view>

namespace vpn::protocol {

enum class NatType : std::uint8_t {
  kUnknown = 0,
  kOpen = 1,                  // a public address, nothing filters
  kOpenWithFirewall = 2,      // a public address, unsolicited packets filtered
  kFullCone = 3,
  kRestrictedCone = 4,
  kFullOrRestrictedCone = 5,  // one of the two; the test to tell them apart could not run
  kPortRestrictedCone = 6,
  kSymmetric = 7,             // a new mapping per destination: punching rarely works
  kUdpBlocked = 8,
};

// Stable words for status output and logs ("full-cone", "symmetric", ...).
std::string_view toString(NatType t);
// One public port per local socket whatever the destination (endpoint-independent mapping), or
// no NAT at all: the side that can aim at a fixed endpoint in port prediction.
bool isConeLike(NatType t);
// The wire byte; any value outside the enum is kUnknown.
NatType natTypeFromWire(std::uint8_t b);

}  // namespace vpn::protocol
