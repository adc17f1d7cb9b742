#pragma once
// The Internet checksum (RFC 1071) for inner packets (the TUN offloads, MSS clamping, ICMP "too
// big"): sums kept unfolded in 64 bits so that pieces (a pseudo-header, a header, a payload) add
// up in any order. Pure, header-only.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace vpn::protocol {

// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`.
// Eight bytes at a time in the machine's order, folded and turned to network order at the end:
// a one's complement sum does not depend on the byte order it is taken in, except for that final
// swap (RFC 1071, 2(B)). Every data packet of a TSO read is checksummed here.
inline std::uint64_t checksumAdd(std::span<const std::uint8_t> bytes, std::uint64_t sum = 0) {
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t acc = 0;  // 32-bit words in machine order; cannot overflow below 16 GiB
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    acc += (w & 0xffffffffu) + (w >> 32);
  }
  for (; n >= 2; p += 2, n -= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
  }
  while ((acc >> 16) != 0) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  if constexpr (std::endian::native == std::endian::little) {
    acc = ((acc & 0xff) << 8) | (acc >> 8);
  }
  sum += acc;
  if (n != 0) {
    sum += static_cast<std::uint64_t>(p[0]) << 8;
  }
  return sum;
}

// Folds a sum to 16 bits (not complemented: what a partial checksum field holds).
inline std::uint16_t checksumFold(std::uint64_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(sum);
}

// The TCP/UDP pseudo-header: addresses (4 or 16 bytes each), protocol and L4 length.
inline std::uint64_t pseudoHeaderSum(std::span<const std::uint8_t> src,
                                     std::span<const std::uint8_t> dst, std::uint8_t protocol,
                                     std::uint32_t length) {
  std::uint64_t sum = checksumAdd(src);
  sum = checksumAdd(dst, sum);
  return sum + protocol + (length >> 16) + (length & 0xffff);
}

inline void putBe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t getBe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t getBe32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
inline void putBe32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace vpn::protocol
