#pragma once
// Sealed packets: a handshake packet, a cookie reply or a STUN message sealed with the network's
// optional outer key (docs/hardening.md, "Network key"), so that only members can make the
// programs answer, and an observer sees neither names nor certificates.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  type (0x43)  |          nonce (12 random bytes) ...          |
//  +-+-+-+-+-+-+-+-+                                               +
//  |                                                               |
//  +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |               |  inner datagram, encrypted (its own type byte first) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    AEAD tag (16 bytes)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The type byte is the associated data. Sealing and opening live in session/outer_seal.hpp; this
// file holds the layout only. Views never allocate.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/handshake_packet.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::size_t kSealedNonceSize = 12;
inline constexpr std::size_t kSealedTagSize = 16;
inline constexpr std::size_t kSealedHeaderSize = 1 + kSealedNonceSize;
inline constexpr std::size_t kSealedOverhead = kSealedHeaderSize + kSealedTagSize;
// The largest inner datagram we seal: a STUN message or a handshake packet (the largest of them).
inline constexpr std::size_t kMaxSealedInner = kMaxHandshakePacket;
inline constexpr std::size_t kMaxSealedPacket = kMaxSealedInner + kSealedOverhead;
// A sealed handshake packet behind the relay header still fits a 1280-byte IPv6 path.
static_assert(kMaxSealedPacket + 3 <= 1232);

struct SealedView {
  std::span<std::uint8_t> header;  // type and nonce: the associated data is header.first(1)
  std::span<std::uint8_t> body;    // the encrypted inner datagram, never empty
  std::span<std::uint8_t> tag;     // kSealedTagSize bytes
};

// The parts of a sealed packet; nullopt if not type 0x43 or too short to hold a one-byte inner
// datagram.
inline std::optional<SealedView> parseSealed(std::span<std::uint8_t> datagram) {
  if (datagram.size() < kSealedOverhead + 1 || datagram[0] != kTypeSealed) {
    return std::nullopt;
  }
  const std::size_t body = datagram.size() - kSealedOverhead;
  return SealedView{datagram.first(kSealedHeaderSize), datagram.subspan(kSealedHeaderSize, body),
                    datagram.last(kSealedTagSize)};
}

// The inner families a sealed packet may carry.
inline bool sealable(std::span<const std::uint8_t> datagram) {
  switch (classify(datagram)) {
    case PacketFamily::kHandshake:
    case PacketFamily::kCookieReply:
    case PacketFamily::kStun:
      return true;
    default:
      return false;
  }
}

}  // namespace vpn::protocol
