#pragma once
// Punch probes: what two introduced peers send to each other's candidates to open NAT bindings and
// find a path that works both ways. Sent in the clear (no session exists yet) but authenticated
// with the punch key both peers received in the rendezvous' INTRODUCE, so only the two introduced
// peers (and the rendezvous that introduced them) can make a valid probe. The TLS handshake that
// follows on the chosen path authenticates the peers end to end.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | 0x70 probe /  |                                               |
//  | 0x71 reply    |        intro id (64 bits)                     |
//  +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//  |                                               |  sequence ... |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | ... (32 bits) |  tag: HMAC-SHA256(punch key, bytes 0..12)     |
//  +-+-+-+-+-+-+-+-+  truncated to 16 bytes ...                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A reply echoes the probe's sequence number, so the sender knows which candidate answered.
// Fixed size: 29 bytes. Parsing checks only the layout; the caller checks the tag.
#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace vpn::protocol {

inline constexpr std::size_t kProbeSize = 29;
inline constexpr std::size_t kProbeSignedSize = 13;
inline constexpr std::size_t kProbeTagSize = 16;

struct ProbePacket {
  bool reply = false;
  std::uint64_t intro_id = 0;
  std::uint32_t sequence = 0;
  std::array<std::uint8_t, kProbeTagSize> tag{};
};

std::optional<ProbePacket> parseProbe(std::span<const std::uint8_t> datagram);
// Writes the 13 signed bytes and the given tag; out must hold kProbeSize bytes.
void writeProbe(const ProbePacket& p, std::span<std::uint8_t, kProbeSize> out);

}  // namespace vpn::protocol
