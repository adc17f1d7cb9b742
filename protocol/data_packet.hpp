#pragma once
// Data and keepalive packets: the sealed tunnel traffic.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | type (0x50|P) |          receiver index (32 bits) ...         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | ...           |            packet counter (64 bits) ...       |
//  +-+-+-+-+-+-+-+-+                                               +
//  |                                                               |
//  +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | ...           |  ciphertext: the inner IP packet, or for a    |
//  +-+-+-+-+-+-+-+-+  keepalive 0..16 bytes (see below) ...        |
//  |                         AEAD tag (16 bytes)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A keepalive's plaintext is empty, or a liveness probe [kind(1) | token(8)] with kind 1 =
// request, 2 = reply, so either side can measure RTT on the data channel.
// P is the key phase bit. The 13-byte header is the AEAD's associated data; the nonce is the
// per-direction IV XOR the counter. Overhead is 13 + 16 = 29 bytes beyond the UDP header.
// The receiver index is chosen by the receiving side at handshake time and demultiplexes
// sessions independently of the sender's address, so a peer may roam.
// Parsing and writing never allocate: they are on the per-packet path.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::size_t kDataHeaderSize = 13;
inline constexpr std::size_t kAeadTagSize = 16;
inline constexpr std::size_t kDataOverhead = kDataHeaderSize + kAeadTagSize;
inline constexpr std::size_t kMaxKeepalivePayload = 16;
inline constexpr std::size_t kMaxControlPayload = 1200;

struct DataHeader {
  bool keepalive = false;
  bool control = false;  // a sealed control message (type 0x60|P); see rendezvous_messages.hpp
  std::uint8_t key_phase = 0;  // 0 or 1
  std::uint32_t receiver_index = 0;
  std::uint64_t counter = 0;
};

// Parses the header of a data or keepalive packet. Fails (nullopt) if the type byte is not data or
// keepalive, or the datagram is shorter than header plus tag.
std::optional<DataHeader> parseDataHeader(std::span<const std::uint8_t> datagram);

// Like parseDataHeader, and also accepts sealed control packets (type 0x60|P, same layout, at most
// kMaxControlPayload bytes of plaintext).
std::optional<DataHeader> parseSealedHeader(std::span<const std::uint8_t> datagram);

// Writes the 13-byte header into out[0..13). out must hold at least kDataHeaderSize bytes.
void writeDataHeader(const DataHeader& h, std::span<std::uint8_t> out);

}  // namespace vpn::protocol
