// The Internet checksum helper against RFC 1071's worked example and against a plain
// word-by-word sum over random bytes of every length and start offset.
#include "protocol/checksum.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace vpn::protocol {
namespace {

// The definition, one big-endian 16-bit word at a time.
std::uint64_t referenceSum(const std::uint8_t* p, std::size_t n) {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < n; i += 2) {
    sum += static_cast<std::uint64_t>(p[i]) << 8 | p[i + 1];
  }
  if (i < n) {
    sum += static_cast<std::uint64_t>(p[i]) << 8;
  }
  return sum;
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071, 3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2.
  const std::uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(checksumFold(checksumAdd(bytes)), 0xddf2);
  // Odd length: the last byte is the high half of a word.
  const std::uint8_t odd[] = {0x12, 0x34, 0x56};
  EXPECT_EQ(checksumFold(checksumAdd(odd)), 0x1234 + 0x5600);
  EXPECT_EQ(checksumFold(checksumAdd(std::span<const std::uint8_t>())), 0);
}

TEST(Checksum, SameAsWordByWordForEveryLengthAndOffset) {
  std::mt19937 rng(1071);
  std::vector<std::uint8_t> buf(2100);
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) {
      // Round 1 is all 0xff, the sum's worst case for carries; the others random.
      b = round == 1 ? 0xff : static_cast<std::uint8_t>(rng());
    }
    for (std::size_t off = 0; off < 9; ++off) {
      for (std::size_t len = 0; len + off <= buf.size(); len += (len < 80 ? 1 : 37)) {
        std::span<const std::uint8_t> s(buf.data() + off, len);
        const std::uint64_t start = static_cast<std::uint64_t>(round) * 0x12345u;  // a sum carried in from earlier pieces
        ASSERT_EQ(checksumFold(checksumAdd(s, start)),
                  checksumFold(start + referenceSum(s.data(), s.size())))
            << "round " << round << " offset " << off << " length " << len;
      }
    }
  }
}

}  // namespace
}  // namespace vpn::protocol
