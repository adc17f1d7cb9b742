#include "stream/frame_codec.hpp"

#include <algorithm>
#include <cstring>

namespace vpn::stream {
namespace {

std::size_t readLength(const std::uint8_t* p) {
  return (std::size_t{p[0]} << 8) | std::size_t{p[1]};
}

}  // namespace

bool encodeFrameHeader(std::size_t size, std::span<std::uint8_t, kFrameHeaderSize> out) {
  if (size == 0 || size > kMaxFrame) {
    return false;
  }
  out[0] = static_cast<std::uint8_t>(size >> 8);
  out[1] = static_cast<std::uint8_t>(size & 0xff);
  return true;
}

FrameDecoder::FrameDecoder() = default;
FrameDecoder::~FrameDecoder() = default;
FrameDecoder::FrameDecoder(FrameDecoder&&) noexcept = default;
FrameDecoder& FrameDecoder::operator=(FrameDecoder&&) noexcept = default;

void FrameDecoder::reset() {
  have_ = 0;
  failed_ = false;
}

FrameDecoder::Status FrameDecoder::next(std::span<std::uint8_t>& input,
                                        std::span<std::uint8_t>& frame) {
  if (failed_) {
    return Status::kError;
  }
  if (have_ == 0) {
    // Fast path: a whole frame at the front of the input is handed out in place.
    if (input.size() >= kFrameHeaderSize) {
      std::size_t len = readLength(input.data());
      if (len == 0) {
        failed_ = true;
        return Status::kError;
      }
      if (input.size() >= kFrameHeaderSize + len) {
        frame = input.subspan(kFrameHeaderSize, len);
        input = input.subspan(kFrameHeaderSize + len);
        return Status::kFrame;
      }
    }
    if (input.empty()) {
      return Status::kNeedMore;
    }
  }
  // Slow path: the frame is split across reads; gather it in the buffer.
  if (!buf_) {
    buf_ = std::make_unique_for_overwrite<std::uint8_t[]>(kFrameHeaderSize + kMaxFrame);
  }
  auto take = [&](std::size_t want) {
    std::size_t n = std::min(want, input.size());
    if (n == 0) {
      return;  // an empty input may have a null data(), which memcpy must not see
    }
    std::memcpy(buf_.get() + have_, input.data(), n);
    have_ += n;
    input = input.subspan(n);
  };
  if (have_ < kFrameHeaderSize) {
    take(kFrameHeaderSize - have_);
    if (have_ < kFrameHeaderSize) {
      return Status::kNeedMore;
    }
  }
  std::size_t len = readLength(buf_.get());
  if (len == 0) {
    failed_ = true;
    have_ = 0;
    return Status::kError;
  }
  take(kFrameHeaderSize + len - have_);
  if (have_ < kFrameHeaderSize + len) {
    return Status::kNeedMore;
  }
  have_ = 0;
  frame = std::span<std::uint8_t>(buf_.get() + kFrameHeaderSize, len);
  return Status::kFrame;
}

}  // namespace vpn::stream
