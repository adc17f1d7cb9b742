#pragma once
// Data and keepalive packets: the sealed tunnel traffic.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | type (0x50|P) |          receiver index (32 bits) ...         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | ...           |   packet number (low 24 bits of the counter)  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  ciphertext: the inner IP packet, or a keepalive's plaintext   |
//  |  (see below) ...                                              |
//  |                         AEAD tag (16 bytes)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A keepalive's plaintext is empty, or a liveness probe [kind(1) | token(8)] with kind 1 =
// request, 2 = reply, so either side can measure RTT on the data channel, or a path MTU probe
// [3 | token(8) | zero padding] of the size tried, answered by [4 | token(8) | size(16)]
// (client/engine/pmtu_search.hpp). Peers before path MTU discovery refuse keepalives of more
// than 16 bytes, which tells the prober they do not take part.
// P is the key phase bit. The 8-byte header is the AEAD's associated data; the nonce is the
// per-direction IV XOR the full 64-bit counter, which the receiver reconstructs from the 24
// bits on the wire as the one nearest to the highest counter it has opened plus one
// (reconstructCounter, as QUIC does with packet numbers, RFC 9000 appendix A.3). A wrong
// guess (a packet delayed by 2^23 or more newer ones) fails authentication and is dropped.
// Overhead is 8 + 16 = 24 bytes beyond the UDP header.
// The receiver index is chosen by the receiving side at handshake time and demultiplexes
// sessions independently of the sender's address, so a peer may roam.
// Parsing and writing never allocate: they are on the per-packet path.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/packet_type.hpp"

namespace vpn::protocol {

inline constexpr std::size_t kDataHeaderSize = 8;
inline constexpr unsigned kPacketNumberBits = 24;
inline constexpr std::uint64_t kPacketNumberMask = (std::uint64_t{1} << kPacketNumberBits) - 1;
inline constexpr std::size_t kAeadTagSize = 16;
inline constexpr std::size_t kDataOverhead = kDataHeaderSize + kAeadTagSize;
inline constexpr std::size_t kMaxKeepalivePayload = 9216;  // a path MTU probe at the largest MTU
inline constexpr std::size_t kMaxControlPayload = 1200;

struct DataHeader {
  bool keepalive = false;
  bool control = false;  // a sealed control message (type 0x60|P); see rendezvous_messages.hpp
  std::uint8_t key_phase = 0;  // 0 or 1
  std::uint32_t receiver_index = 0;
  // Writing: the full counter (only its low 24 bits go on the wire). Parsing: those 24 bits;
  // DataKeys::open reconstructs the rest.
  std::uint64_t counter = 0;
};

// The counter nearest `expected` whose low kPacketNumberBits bits are `truncated`.
std::uint64_t reconstructCounter(std::uint64_t truncated, std::uint64_t expected);

// Parses the header of a data or keepalive packet. Fails (nullopt) if the type byte is not data or
// keepalive, or the datagram is shorter than header plus tag.
std::optional<DataHeader> parseDataHeader(std::span<const std::uint8_t> datagram);

// Like parseDataHeader, and also accepts sealed control packets (type 0x60|P, same layout, at most
// kMaxControlPayload bytes of plaintext).
std::optional<DataHeader> parseSealedHeader(std::span<const std::uint8_t> datagram);

// Writes the 8-byte header into out[0..8). out must hold at least kDataHeaderSize bytes.
void writeDataHeader(const DataHeader& h, std::span<std::uint8_t> out);

}  // namespace vpn::protocol
