#pragma once
// Relay packets: a peer-to-peer datagram forwarded through a rendezvous on a channel that joins
// two registered peers (docs/paths.md).
//
//   0                   1                   2
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - -
//  |  type (0x78)  |       channel (16 bits)       | inner datagram: a peer-to-peer
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - -   handshake, data or keepalive
//
// A channel has the same number at both ends and is never 0. The header carries no
// authentication of its own: the rendezvous accepts a relay packet only from the current endpoint
// (UDP) or connection (TCP) of a peer's authenticated session, and the inner datagram is sealed
// end to end by the pair's own session. Parsing and writing never allocate: they are on the
// per-packet path. Only the header is checked here; the inner bytes are the caller's to judge.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::uint8_t kTypeRelay = 0x78;
inline constexpr std::size_t kRelayHeaderSize = 3;

// The channel of a relay packet; nullopt if shorter than the header, not type 0x78, or channel 0.
// An empty inner datagram is accepted here (the rendezvous rejects it by its family).
inline std::optional<std::uint16_t> parseRelayChannel(std::span<const std::uint8_t> datagram) {
  if (datagram.size() < kRelayHeaderSize || datagram[0] != kTypeRelay) {
    return std::nullopt;
  }
  auto channel = static_cast<std::uint16_t>((datagram[1] << 8) | datagram[2]);
  if (channel == 0) {
    return std::nullopt;
  }
  return channel;
}

// The inner datagram of a relay packet whose header parsed; empty if there is none.
inline std::span<const std::uint8_t> relayInner(std::span<const std::uint8_t> datagram) {
  return datagram.size() < kRelayHeaderSize ? std::span<const std::uint8_t>{}
                                            : datagram.subspan(kRelayHeaderSize);
}

// Writes the 3-byte header to out[0..2]; out must hold at least kRelayHeaderSize bytes (checked:
// a shorter span is left untouched). The caller places the inner datagram after it.
inline void writeRelayHeader(std::uint16_t channel, std::span<std::uint8_t> out) {
  if (out.size() < kRelayHeaderSize) {
    return;
  }
  out[0] = kTypeRelay;
  out[1] = static_cast<std::uint8_t>(channel >> 8);
  out[2] = static_cast<std::uint8_t>(channel);
}

}  // namespace vpn::protocol
