#pragma once
// NAT-PMP (RFC 6886): the older port mapping protocol of home routers, asked when a PCP request
// gets a version 0 answer (or none). Two requests, both to the router's port 5351:
//   external address: version 0 (8) | opcode 0 (8)                                  2 bytes
//     answer:         version 0 | 128 | result (16) | epoch (32) | external IPv4  12 bytes
//   map UDP:          version 0 | opcode 1 | reserved (16) | internal port (16)
//                     suggested external port (16) | lifetime, seconds (32)         12 bytes
//     answer:         version 0 | 129 | result (16) | epoch (32) | internal port (16)
//                     mapped external port (16) | lifetime (32)                     16 bytes
// A lifetime of 0 with external port 0 deletes the mapping. IPv4 only, as the protocol is.
//
// Pure functions on caller memory; nothing allocates or throws. The caller checks that an answer
// came from the router's port 5351 and matches its request (opcode, internal port).
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/ip_address.hpp"

namespace vpn::protocol {

inline constexpr std::uint8_t kNatPmpOpAddress = 0;
inline constexpr std::uint8_t kNatPmpOpMapUdp = 1;
inline constexpr std::size_t kNatPmpAddressRequestSize = 2;
inline constexpr std::size_t kNatPmpMapRequestSize = 12;

// RFC 6886 section 3.5.
enum class NatPmpResult : std::uint16_t {
  kSuccess = 0,
  kUnsupportedVersion = 1,
  kRefused = 2,  // not authorized: mapping turned off on the router
  kNetworkFailure = 3,
  kNoResources = 4,
  kUnsupportedOpcode = 5,
};
const char* toString(NatPmpResult r);

// Write a request into `out`; return its size, or 0 if `out` is too small (or, for a map, the
// internal port is 0).
std::size_t buildNatPmpAddressRequest(std::span<std::uint8_t> out);
std::size_t buildNatPmpMapRequest(std::uint16_t internal_port, std::uint16_t suggested_port,
                                  std::uint32_t lifetime, std::span<std::uint8_t> out);

struct NatPmpResponse {
  std::uint8_t opcode = 0;  // of the request answered: 0 address, 1 map UDP
  NatPmpResult result = NatPmpResult::kSuccess;
  std::uint32_t epoch = 0;  // seconds since the router's mappings were last reset
  IpAddress external;       // opcode 0
  std::uint16_t internal_port = 0;  // opcode 1
  std::uint16_t external_port = 0;  // opcode 1
  std::uint32_t lifetime = 0;       // opcode 1
};

// False unless `datagram` is a version 0 answer to opcode 0 or 1, long enough for its opcode (an
// error answer may be only 8 bytes: header and epoch).
bool parseNatPmpResponse(std::span<const std::uint8_t> datagram, NatPmpResponse& out);

}  // namespace vpn::protocol
