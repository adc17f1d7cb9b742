#pragma once
// What the tunnel does with an inner packet larger than the path's MTU (client/engine's path MTU
// discovery decides the size), and TCP MSS clamping. Pure functions on inner IPv4/IPv6 packets;
// never allocate; checksums are kept valid (protocol/checksum.hpp).
//
//  - tooBigAction: IPv4 with DF and IPv6 above 1280 bytes are refused with an ICMP message
//    (kRefuse); IPv4 without DF, and IPv6 up to 1280 bytes (the size every IPv6 link must carry,
//    RFC 8200 section 5), go out with the outer datagram fragmented instead (kFragmentOuter).
//  - buildTooBig writes that ICMP message as a packet to hand back to the TUN device: ICMPv4
//    "fragmentation needed" (RFC 792, RFC 1191 next-hop MTU) or ICMPv6 "packet too big"
//    (RFC 4443), from the packet's destination to its source, quoting as much of it as the rules
//    allow. It writes nothing (returns 0) where no ICMP error may be sent: about an ICMP error,
//    a non-first fragment, or a packet from an unspecified or multicast source.
//  - clampMss lowers the MSS option of a TCP SYN (or SYN-ACK) to `mss` when it is larger, so
//    that both ends size their segments for the path from the first one.
#include <cstddef>
#include <cstdint>
#include <span>

namespace vpn::protocol {

inline constexpr std::size_t kIpv6MinMtu = 1280;

enum class TooBigAction : std::uint8_t { kRefuse, kFragmentOuter, kDrop };

// For a packet of more than `mtu` bytes. kDrop: not a packet we can judge (malformed).
TooBigAction tooBigAction(std::span<const std::uint8_t> packet);

// Writes the ICMP error for `packet` with the MTU `mtu` into `out` (at least 576 bytes for IPv4,
// 1280 for IPv6 to quote the most); returns its length, or 0 (see above).
std::size_t buildTooBig(std::span<const std::uint8_t> packet, std::size_t mtu,
                        std::span<std::uint8_t> out);

// The MSS for an inner MTU: 40 (IPv4) or 60 (IPv6) bytes of headers less.
inline std::uint16_t mssForMtu(std::size_t mtu, bool v6) {
  std::size_t headers = v6 ? 60 : 40;
  return static_cast<std::uint16_t>(mtu > headers + 0xFFFF ? 0xFFFF : mtu > headers ? mtu - headers : 0);
}

// Lowers a SYN's MSS option to at most the MSS for `mtu`. True if the packet changed.
bool clampMss(std::span<std::uint8_t> packet, std::size_t mtu);

}  // namespace vpn::protocol
