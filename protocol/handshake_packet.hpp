#pragma once
// Handshake packets: the reliable control channel that carries the TLS 1.3 byte stream.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  type (0x41)  |  version (1)  |     flags     |   ack count   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     sender index (32 bits)                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          receiver index (32 bits; 0 until the sender knows it)|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        packet id (32 bits)         present if flags & PAYLOAD |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        acked packet ids, ack count x 32 bits                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | name length   |  claimed sender name     present if flags & HELLO
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  payload: the next slice of the TLS stream, if flags & PAYLOAD |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: PAYLOAD (0x01) the packet is reliable and carries stream bytes; HELLO (0x02) the sender
// names itself so the receiver can pick TLS roles before any certificate is seen (the name is only
// a hint, the certificate decides); KICK (0x04) "you are the TLS client, start the handshake".
// Packet ids start at 1 in each direction of a session and count reliable packets.
// The parsed packet holds views into the datagram and never allocates.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.hpp"
#include "protocol/parse_error.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::uint8_t kHandshakeVersion = 1;
inline constexpr std::uint8_t kFlagPayload = 0x01;
inline constexpr std::uint8_t kFlagHello = 0x02;
inline constexpr std::uint8_t kFlagKick = 0x04;
inline constexpr std::size_t kMaxAcksPerPacket = 32;
inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr std::size_t kHandshakeFixedSize = 12;
// Stream bytes per packet: keeps a full handshake packet under 1280 bytes (the IPv6 minimum MTU)
// after IP and UDP headers, so TLS flights never depend on IP fragmentation.
inline constexpr std::size_t kMaxHandshakePayload = 1024;
inline constexpr std::size_t kMaxHandshakePacket =
    kHandshakeFixedSize + 4 + kMaxAcksPerPacket * 4 + 1 + kMaxNameLength + kMaxHandshakePayload;

struct HandshakePacket {
  std::uint8_t flags = 0;
  std::uint32_t sender_index = 0;
  std::uint32_t receiver_index = 0;
  std::uint32_t packet_id = 0;                  // valid if flags & kFlagPayload
  std::span<const std::uint8_t> acks_raw;       // ack count x 4 bytes, big-endian
  std::string_view name;                        // valid if flags & kFlagHello
  std::span<const std::uint8_t> payload;        // valid if flags & kFlagPayload

  bool hasPayload() const { return (flags & kFlagPayload) != 0; }
  bool hasHello() const { return (flags & kFlagHello) != 0; }
  bool isKick() const { return (flags & kFlagKick) != 0; }
  std::size_t ackCount() const { return acks_raw.size() / 4; }
  std::uint32_t ack(std::size_t i) const;
};

Result<HandshakePacket, ParseError> parseHandshake(std::span<const std::uint8_t> datagram);

// Serializes p (acks taken from `acks`, not acks_raw) into out. Returns the number of bytes
// written, or 0 if out is too small or a field is out of range (too many acks, name too long,
// payload over kMaxHandshakePayload).
std::size_t serializeHandshake(const HandshakePacket& p, std::span<const std::uint32_t> acks,
                               std::span<std::uint8_t> out);

}  // namespace vpn::protocol
