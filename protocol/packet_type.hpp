#pragma once
// The first byte of every datagram on the vpnpeer UDP port names its message family, so one
// port carries handshakes, data, keepalives, rendezvous, punch and relay traffic.
//
// Our families all start with the bits 01, so they never collide with STUN, whose first two bits
// are 00 and whose bytes 4..7 hold the magic cookie 0x2112A442 (RFC 8489, demultiplexing as in
// RFC 7983). Values not listed are unknown and dropped.
//
//   0x00-0x03  STUN (with the magic cookie; without it, only an RFC 3489 Binding request:
//              0x00 0x01 and a length that matches the datagram)
//   0x41       handshake: reliable control channel carrying TLS 1.3        (handshake_packet.hpp)
//   0x42       cookie reply: a stateless answer to a HELLO from an unvalidated source
//                                                                  (handshake_packet.hpp)
//   0x43       sealed: a handshake packet, cookie reply or STUN message sealed with the
//              network's optional outer key                           (sealed_packet.hpp)
//   0x50/0x51  data, key phase 0/1: AEAD-sealed inner IP packet            (data_packet.hpp)
//   0x52/0x53  keepalive, key phase 0/1: AEAD-sealed empty payload         (data_packet.hpp)
//   0x60/0x61  control, key phase 0/1: AEAD-sealed control message between a peer and a
//              rendezvous (registration, lookup, introduction)    (rendezvous_messages.hpp)
//   0x62-0x6F  reserved: rendezvous
//   0x70/0x71  punch probe / probe reply, authenticated by the introduction's punch key
//                                                                  (punch_packet.hpp)
//   0x72-0x77  reserved: punch
//   0x78       relay: channel (16) + a peer-to-peer datagram forwarded by a rendezvous
//                                                                  (relay_packet.hpp)
//   0x79-0x7F  reserved: relay
#include <cstddef>
#include <cstdint>
#include <span>

namespace vpn::protocol {

enum class PacketFamily : std::uint8_t {
  kUnknown,
  kStun,
  kHandshake,
  kCookieReply,
  kSealed,
  kData,
  kKeepalive,
  kRendezvous,
  kPunch,
  kRelay,
};

inline constexpr std::uint8_t kTypeHandshake = 0x41;
inline constexpr std::uint8_t kTypeCookieReply = 0x42;
inline constexpr std::uint8_t kTypeSealed = 0x43;
inline constexpr std::uint8_t kTypeData = 0x50;       // | key phase
inline constexpr std::uint8_t kTypeKeepalive = 0x52;  // | key phase
inline constexpr std::uint8_t kTypeControl = 0x60;    // | key phase
inline constexpr std::uint8_t kTypeProbe = 0x70;
inline constexpr std::uint8_t kTypeProbeReply = 0x71;
inline constexpr std::uint32_t kStunMagicCookie = 0x2112A442;

inline PacketFamily classify(std::span<const std::uint8_t> d) {
  if (d.empty()) {
    return PacketFamily::kUnknown;
  }
  std::uint8_t b = d[0];
  if ((b & 0xC0) == 0) {
    if (b <= 3 && d.size() >= 20 && d[4] == 0x21 && d[5] == 0x12 && d[6] == 0xA4 && d[7] == 0x42) {
      return PacketFamily::kStun;
    }
    if (b == 0x00 && d.size() >= 20 && d[1] == 0x01 &&
        ((std::size_t{d[2]} << 8) | d[3]) == d.size() - 20) {
      return PacketFamily::kStun;  // classic (RFC 3489) Binding request
    }
    return PacketFamily::kUnknown;
  }
  if (b == kTypeHandshake) {
    return PacketFamily::kHandshake;
  }
  if (b == kTypeCookieReply) {
    return PacketFamily::kCookieReply;
  }
  if (b == kTypeSealed) {
    return PacketFamily::kSealed;
  }
  if ((b & 0xFE) == kTypeData) {
    return PacketFamily::kData;
  }
  if ((b & 0xFE) == kTypeKeepalive) {
    return PacketFamily::kKeepalive;
  }
  if ((b & 0xF0) == 0x60) {
    return PacketFamily::kRendezvous;
  }
  if ((b & 0xF8) == 0x70) {
    return PacketFamily::kPunch;
  }
  if ((b & 0xF8) == 0x78) {
    return PacketFamily::kRelay;
  }
  return PacketFamily::kUnknown;
}

}  // namespace vpn::protocol
