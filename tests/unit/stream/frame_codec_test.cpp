#include "stream/frame_codec.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace vpn::stream::test {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes datagram(std::size_t index, std::size_t size) {
  Bytes d(size);
  for (std::size_t i = 0; i < size; ++i) {
    d[i] = static_cast<std::uint8_t>((index * 131 + i * 7 + 3) & 0xff);
  }
  return d;
}

void appendFrame(Bytes& wire, const Bytes& d) {
  std::array<std::uint8_t, kFrameHeaderSize> h{};
  ASSERT_TRUE(encodeFrameHeader(d.size(), h));
  wire.insert(wire.end(), h.begin(), h.end());
  wire.insert(wire.end(), d.begin(), d.end());
}

// Feeds wire in chunks of the given sizes (cycled) and collects the frames.
std::vector<Bytes> decodeInChunks(FrameDecoder& dec, Bytes wire,
                                  const std::vector<std::size_t>& chunks,
                                  FrameDecoder::Status* last = nullptr) {
  std::vector<Bytes> out;
  std::size_t pos = 0;
  std::size_t c = 0;
  FrameDecoder::Status s = FrameDecoder::Status::kNeedMore;
  while (pos < wire.size()) {
    std::size_t n = std::min(chunks[c++ % chunks.size()], wire.size() - pos);
    s = dec.feed(std::span<std::uint8_t>(wire.data() + pos, n), [&](std::span<std::uint8_t> f) {
      out.emplace_back(f.begin(), f.end());
      return true;
    });
    pos += n;
    if (s == FrameDecoder::Status::kError) {
      break;
    }
  }
  if (last != nullptr) {
    *last = s;
  }
  return out;
}

TEST(FrameCodec, HeaderIsBigEndianLength) {
  std::array<std::uint8_t, 2> h{0xee, 0xee};
  ASSERT_TRUE(encodeFrameHeader(1, h));
  EXPECT_EQ(h, (std::array<std::uint8_t, 2>{0x00, 0x01}));
  ASSERT_TRUE(encodeFrameHeader(0x1234, h));
  EXPECT_EQ(h, (std::array<std::uint8_t, 2>{0x12, 0x34}));
  ASSERT_TRUE(encodeFrameHeader(65535, h));
  EXPECT_EQ(h, (std::array<std::uint8_t, 2>{0xff, 0xff}));
}

TEST(FrameCodec, HeaderRefusesEmptyAndOversize) {
  std::array<std::uint8_t, 2> h{0xab, 0xcd};
  EXPECT_FALSE(encodeFrameHeader(0, h));
  EXPECT_FALSE(encodeFrameHeader(65536, h));
  EXPECT_EQ(h, (std::array<std::uint8_t, 2>{0xab, 0xcd})) << "out must stay untouched";
}

TEST(FrameCodec, ManyFramesInOneReadAreHandedOutInPlace) {
  Bytes wire;
  std::vector<Bytes> sent;
  for (std::size_t i = 0; i < 100; ++i) {
    sent.push_back(datagram(i, 1 + (i * 37) % 300));
    appendFrame(wire, sent.back());
  }
  FrameDecoder dec;
  std::vector<Bytes> got;
  std::size_t in_place = 0;
  auto s = dec.feed(wire, [&](std::span<std::uint8_t> f) {
    if (f.data() >= wire.data() && f.data() + f.size() <= wire.data() + wire.size()) {
      ++in_place;
    }
    got.emplace_back(f.begin(), f.end());
    return true;
  });
  EXPECT_EQ(s, FrameDecoder::Status::kNeedMore);
  EXPECT_EQ(got, sent);
  EXPECT_EQ(in_place, sent.size()) << "whole frames must not be copied";
  EXPECT_EQ(dec.buffered(), 0u);
}

TEST(FrameCodec, FramesSplitAtEveryByteBoundary) {
  std::vector<Bytes> sent = {datagram(1, 1), datagram(2, 2), datagram(3, 5), datagram(4, 300)};
  Bytes wire;
  for (auto& d : sent) {
    appendFrame(wire, d);
  }
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    FrameDecoder dec;
    Bytes copy = wire;
    std::vector<Bytes> got;
    auto collect = [&](std::span<std::uint8_t> f) {
      got.emplace_back(f.begin(), f.end());
      return true;
    };
    EXPECT_EQ(dec.feed(std::span<std::uint8_t>(copy.data(), cut), collect),
              FrameDecoder::Status::kNeedMore);
    EXPECT_EQ(dec.feed(std::span<std::uint8_t>(copy.data() + cut, copy.size() - cut), collect),
              FrameDecoder::Status::kNeedMore);
    EXPECT_EQ(got, sent) << "cut at " << cut;
    EXPECT_EQ(dec.buffered(), 0u);
  }
}

TEST(FrameCodec, BytesOneAtATimeAndOddChunks) {
  std::vector<Bytes> sent;
  Bytes wire;
  for (std::size_t i = 0; i < 20; ++i) {
    sent.push_back(datagram(i, 1 + (i * 911) % 3000));
    appendFrame(wire, sent.back());
  }
  for (const auto& chunks : std::vector<std::vector<std::size_t>>{{1}, {3}, {2, 7, 1}, {1000}}) {
    FrameDecoder dec;
    EXPECT_EQ(decodeInChunks(dec, wire, chunks), sent);
  }
}

TEST(FrameCodec, LargestFrameSplitInHalves) {
  Bytes wire;
  Bytes big = datagram(9, kMaxFrame);
  appendFrame(wire, big);
  appendFrame(wire, datagram(10, 1));
  FrameDecoder dec;
  auto got = decodeInChunks(dec, wire, {30000});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], big);
  EXPECT_EQ(got[1], datagram(10, 1));
}

TEST(FrameCodec, PartialFrameIsBufferedUntilComplete) {
  Bytes wire;
  appendFrame(wire, datagram(1, 10));
  FrameDecoder dec;
  std::span<std::uint8_t> in(wire.data(), 7);
  std::span<std::uint8_t> frame;
  EXPECT_EQ(dec.next(in, frame), FrameDecoder::Status::kNeedMore);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(dec.buffered(), 7u);
  std::span<std::uint8_t> rest(wire.data() + 7, wire.size() - 7);
  ASSERT_EQ(dec.next(rest, frame), FrameDecoder::Status::kFrame);
  EXPECT_EQ(Bytes(frame.begin(), frame.end()), datagram(1, 10));
  EXPECT_EQ(dec.buffered(), 0u);
}

TEST(FrameCodec, ZeroLengthIsAStickyError) {
  Bytes wire;
  appendFrame(wire, datagram(1, 4));
  wire.push_back(0);
  wire.push_back(0);
  appendFrame(wire, datagram(2, 4));
  FrameDecoder dec;
  FrameDecoder::Status last{};
  auto got = decodeInChunks(dec, wire, {wire.size()}, &last);
  EXPECT_EQ(last, FrameDecoder::Status::kError);
  ASSERT_EQ(got.size(), 1u) << "the frame before the error is delivered, none after";
  EXPECT_TRUE(dec.failed());
  Bytes more;
  appendFrame(more, datagram(3, 4));
  EXPECT_EQ(dec.feed(more, [](auto) { return true; }), FrameDecoder::Status::kError);
  dec.reset();
  EXPECT_FALSE(dec.failed());
  EXPECT_EQ(decodeInChunks(dec, more, {1}).size(), 1u);
}

TEST(FrameCodec, ZeroLengthSplitAcrossReadsIsAnError) {
  Bytes wire = {0x00};
  FrameDecoder dec;
  std::span<std::uint8_t> in(wire);
  std::span<std::uint8_t> frame;
  EXPECT_EQ(dec.next(in, frame), FrameDecoder::Status::kNeedMore);
  Bytes second = {0x00, 0x05, 1, 2, 3, 4, 5};
  std::span<std::uint8_t> in2(second);
  EXPECT_EQ(dec.next(in2, frame), FrameDecoder::Status::kError);
}

TEST(FrameCodec, CallbackCanStopFeeding) {
  Bytes wire;
  for (std::size_t i = 0; i < 5; ++i) {
    appendFrame(wire, datagram(i, 8));
  }
  FrameDecoder dec;
  int calls = 0;
  auto s = dec.feed(wire, [&](std::span<std::uint8_t>) { return ++calls < 2; });
  EXPECT_EQ(s, FrameDecoder::Status::kFrame);
  EXPECT_EQ(calls, 2);
}

TEST(FrameCodec, GarbageNeverCrashesAndAccountsForEveryByte) {
  std::mt19937 rng(4242);
  for (int round = 0; round < 200; ++round) {
    Bytes junk(1 + rng() % 5000);
    for (auto& b : junk) {
      b = static_cast<std::uint8_t>(rng());
    }
    FrameDecoder dec;
    std::size_t framed = 0;
    std::size_t frames = 0;
    FrameDecoder::Status last{};
    std::size_t pos = 0;
    while (pos < junk.size()) {
      std::size_t n = std::min<std::size_t>(1 + rng() % 700, junk.size() - pos);
      last =
          dec.feed(std::span<std::uint8_t>(junk.data() + pos, n), [&](std::span<std::uint8_t> f) {
            EXPECT_GE(f.size(), 1u);
            EXPECT_LE(f.size(), kMaxFrame);
            framed += kFrameHeaderSize + f.size();
            ++frames;
            return true;
          });
      pos += n;
      if (last == FrameDecoder::Status::kError) {
        break;
      }
    }
    if (last != FrameDecoder::Status::kError) {
      EXPECT_EQ(framed + dec.buffered(), junk.size()) << "round " << round;
    } else {
      EXPECT_TRUE(dec.failed());
    }
  }
}

}  // namespace
}  // namespace vpn::stream::test
