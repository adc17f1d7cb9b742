// TCP framing: the decoder fed in chunks whose sizes come from the input. Invariants: every frame
// is non-empty and at most kMaxFrame, the bytes framed never exceed the bytes fed, and after an
// error the decoder keeps reporting it.
#include <vector>

#include "stream/frame_codec.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  fuzz::FuzzInput f(data, size);
  stream::FrameDecoder d;
  std::size_t fed = 0, framed = 0;
  bool failed = false;
  while (!f.empty()) {
    std::size_t step = 1 + f.byte() * 8u;
    auto chunk = f.take(step);
    std::vector<std::uint8_t> buf(chunk.begin(), chunk.end());
    fed += buf.size();
    auto s = d.feed(buf, [&](std::span<std::uint8_t> frame) {
      FUZZ_CHECK(!frame.empty() && frame.size() <= stream::kMaxFrame);
      framed += frame.size() + stream::kFrameHeaderSize;
      return true;
    });
    if (failed) {
      FUZZ_CHECK(s == stream::FrameDecoder::Status::kError);
    }
    failed = failed || s == stream::FrameDecoder::Status::kError;
  }
  FUZZ_CHECK(framed <= fed);
  return 0;
}
