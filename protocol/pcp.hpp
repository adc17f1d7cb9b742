#pragma once
// PCP (RFC 6887) MAP requests and responses: how a peer asks its home router for a UDP port
// mapping of the tunnel port. Only what that needs: the MAP opcode, no options, no PEER, no
// THIRD_PARTY; ANNOUNCE is recognised in responses only by its opcode. Sent to the router's
// port 5351 from the port being mapped (the router takes the internal address from the source).
//
// Request (60 bytes):
//   version 2 (8) | R=0 (1) opcode (7) | reserved (16) | requested lifetime, seconds (32)
//   client IP address (128, IPv4 as ::ffff:a.b.c.d)
//   MAP: nonce (96) | protocol (8, 17 = UDP) | reserved (24) | internal port (16)
//        suggested external port (16) | suggested external IP (128, ::ffff:0.0.0.0 = any v4)
// Response (60 bytes for MAP):
//   version 2 (8) | R=1 (1) opcode (7) | reserved (8) | result code (8) | lifetime (32)
//   epoch time (32) | reserved (96)
//   MAP: nonce (96) | protocol (8) | reserved (24) | internal port (16)
//        assigned external port (16) | assigned external IP (128)
// A server that only speaks NAT-PMP answers a version 2 request with its own version 0 header
// and result 1 (unsupported version): parsePcpResponse reports that as kNatPmpServer.
//
// Pure functions on caller memory; nothing allocates or throws. Parsing is bounds-checked and
// never trusts the datagram; a response must still be matched to a request (nonce, protocol,
// internal port) by the caller, which must also check it came from the router's port 5351.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/ip_address.hpp"

namespace vpn::protocol {

inline constexpr std::uint16_t kPcpServerPort = 5351;
inline constexpr std::uint8_t kPcpVersion = 2;
inline constexpr std::uint8_t kPcpOpcodeAnnounce = 0;
inline constexpr std::uint8_t kPcpOpcodeMap = 1;
inline constexpr std::uint8_t kPcpProtocolUdp = 17;
inline constexpr std::size_t kPcpMapSize = 60;  // a MAP request or response without options
inline constexpr std::size_t kPcpMaxSize = 1100;  // RFC 6887 section 7

// RFC 6887 section 7.4.
enum class PcpResult : std::uint8_t {
  kSuccess = 0,
  kUnsupportedVersion = 1,
  kNotAuthorized = 2,
  kMalformedRequest = 3,
  kUnsupportedOpcode = 4,
  kUnsupportedOption = 5,
  kMalformedOption = 6,
  kNetworkFailure = 7,
  kNoResources = 8,
  kUnsupportedProtocol = 9,
  kUserExceededQuota = 10,
  kCannotProvideExternal = 11,
  kAddressMismatch = 12,
  kExcessiveRemotePeers = 13,
};
// "success", "not authorized", ... ("result N" for codes beyond the RFC's).
const char* toString(PcpResult r);
// Whether retrying the same request later may succeed (RFC 6887 section 7.4: the "short" and
// "long" lifetime errors); otherwise the router will not map for us.
bool pcpResultIsTransient(PcpResult r);

using PcpNonce = std::array<std::uint8_t, 12>;

struct PcpMapRequest {
  IpAddress client;            // our address on the router's side (the request's source)
  PcpNonce nonce{};            // random; the same for refreshes of one mapping
  std::uint16_t internal_port = 0;
  std::uint16_t suggested_port = 0;  // 0: any
  std::uint32_t lifetime = 0;        // seconds; 0 deletes the mapping
};

// Writes the 60-byte request into `out`; returns the size, or 0 if `out` is too small or the
// internal port is 0.
std::size_t buildPcpMap(const PcpMapRequest& req, std::span<std::uint8_t> out);

struct PcpMapResponse {
  PcpResult result = PcpResult::kSuccess;
  std::uint32_t lifetime = 0;  // granted seconds (on error: how long before asking again)
  std::uint32_t epoch = 0;     // server epoch: a jump back means it lost its mappings
  PcpNonce nonce{};
  std::uint8_t protocol = 0;
  std::uint16_t internal_port = 0;
  Endpoint external;  // assigned address (IPv4-mapped ones as IPv4) and port
};

enum class PcpParse : std::uint8_t {
  kOk,
  kNatPmpServer,  // a version 0 answer: the router speaks NAT-PMP only
  kNotMapResponse,  // a request, another opcode (ANNOUNCE, PEER) or a wrong version
  kMalformed,       // too short, too long, or not a multiple of 4 bytes
};

PcpParse parsePcpMapResponse(std::span<const std::uint8_t> datagram, PcpMapResponse& out);

}  // namespace vpn::protocol
