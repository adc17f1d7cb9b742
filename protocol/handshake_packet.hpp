#pragma once
// Handshake packets: the reliable control channel that carries the TLS 1.3 byte stream.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  type (0x41)  |  version (3)  |     flags     |   ack count   |
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
//  |  cookie (16 bytes, echoed from a cookie reply) if flags & COOKIE
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  padding length (16 bits) | zero bytes      if flags & PADDED |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  payload: the next slice of the TLS stream, if flags & PAYLOAD |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: PAYLOAD (0x01) the packet is reliable and carries stream bytes; HELLO (0x02) the sender
// names itself so the receiver can pick TLS roles before any certificate is seen (the name is only
// a hint, the certificate decides); KICK (0x04) "you are the TLS client, start the handshake";
// COOKIE (0x08) the sender echoes the cookie a responder gave it, proving it receives at its
// source address; PADDED (0x10) zero bytes that bring a first packet up to kMinInitialPacket, so
// that an answer to it is never larger than the question (anti-amplification, as QUIC pads its
// Initial packets).
// Packet ids start at 1 in each direction of a session and count reliable packets.
// The parsed packet holds views into the datagram and never allocates.
//
// Cookie reply (type 0x42): a responder that keeps no state for an unvalidated source answers a
// HELLO with its cookie, which the sender echoes in a retry (as QUIC's Retry and WireGuard's
// cookie reply do). 24 bytes, smaller than any packet that can cause it.
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  type (0x42)  |  version (3)  |        reserved (zero)        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   receiver index: the sender index of the HELLO it answers    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       cookie (16 bytes)                       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.hpp"
#include "protocol/parse_error.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::uint8_t kHandshakeVersion = 3;
inline constexpr std::uint8_t kFlagPayload = 0x01;
inline constexpr std::uint8_t kFlagHello = 0x02;
inline constexpr std::uint8_t kFlagKick = 0x04;
inline constexpr std::uint8_t kFlagCookie = 0x08;
inline constexpr std::uint8_t kFlagPadded = 0x10;
inline constexpr std::size_t kMaxAcksPerPacket = 32;
inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr std::size_t kHandshakeFixedSize = 12;
inline constexpr std::size_t kCookieSize = 16;
inline constexpr std::size_t kCookieReplySize = 8 + kCookieSize;
// First packets (HELLO and KICK) are padded to this size: the smallest UDP payload a 1280-byte
// IPv6 path carries with room for the relay header, and enough for a TLS server flight to answer
// it at 1x.
inline constexpr std::size_t kMinInitialPacket = 1200;
// Every handshake packet fits in kMinInitialPacket bytes, so that sealed with the network key
// (sealed_packet.hpp, 29 bytes) and behind the relay header (3 bytes) it is still at most 1232
// bytes: a 1280-byte IPv6 path carries it after IP and UDP headers, and TLS flights never depend
// on IP fragmentation. The stream bytes per packet are what is left with every field at its
// largest (973).
inline constexpr std::size_t kMaxHandshakePacket = kMinInitialPacket;
inline constexpr std::size_t kMaxHandshakePayload =
    kMaxHandshakePacket -
    (kHandshakeFixedSize + 4 + kMaxAcksPerPacket * 4 + 1 + kMaxNameLength + kCookieSize + 2);

using Cookie = std::array<std::uint8_t, kCookieSize>;

struct HandshakePacket {
  std::uint8_t flags = 0;
  std::uint32_t sender_index = 0;
  std::uint32_t receiver_index = 0;
  std::uint32_t packet_id = 0;                  // valid if flags & kFlagPayload
  std::span<const std::uint8_t> acks_raw;       // ack count x 4 bytes, big-endian
  std::string_view name;                        // valid if flags & kFlagHello
  std::span<const std::uint8_t> cookie;         // kCookieSize bytes if flags & kFlagCookie
  std::span<const std::uint8_t> payload;        // valid if flags & kFlagPayload
  // Parsing: the datagram's size. Serializing: pad (flags & kFlagPadded) up to this many bytes.
  std::size_t wire_size = 0;

  bool hasPayload() const { return (flags & kFlagPayload) != 0; }
  bool hasHello() const { return (flags & kFlagHello) != 0; }
  bool isKick() const { return (flags & kFlagKick) != 0; }
  bool hasCookie() const { return (flags & kFlagCookie) != 0; }
  std::size_t ackCount() const { return acks_raw.size() / 4; }
  std::uint32_t ack(std::size_t i) const;
};

Result<HandshakePacket, ParseError> parseHandshake(std::span<const std::uint8_t> datagram);

// Serializes p (acks taken from `acks`, not acks_raw) into out. With kFlagPadded the packet is
// padded to max(p.wire_size, its unpadded size). Returns the number of bytes written, or 0 if out
// is too small or a field is out of range (too many acks, name too long, cookie not kCookieSize,
// payload over kMaxHandshakePayload).
std::size_t serializeHandshake(const HandshakePacket& p, std::span<const std::uint32_t> acks,
                               std::span<std::uint8_t> out);

struct CookieReply {
  std::uint32_t receiver_index = 0;
  Cookie cookie{};
};
Result<CookieReply, ParseError> parseCookieReply(std::span<const std::uint8_t> datagram);
// Writes kCookieReplySize bytes; 0 if out is too small.
std::size_t serializeCookieReply(const CookieReply& r, std::span<std::uint8_t> out);

}  // namespace vpn::protocol
