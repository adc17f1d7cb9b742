#pragma once
// TCP framing: every datagram travels as a 16-bit big-endian length followed by that many bytes,
// as OpenVPN frames TCP. A length of zero is a protocol error (no message is empty).
//
// FrameDecoder reassembles frames from arbitrary read chunks. A frame that lies whole inside the
// chunk it arrived in is handed out in place (no copy); only a frame split across chunks is
// copied into the decoder's fixed buffer (2 + 65535 bytes, allocated once, on the first split
// frame, so idle connections cost nothing). Nothing allocates per frame.
// Ownership: the decoder owns its buffer; frames handed out are views valid until the next call.
// Threading: none (one owner). Errors: a zero length makes the decoder fail for good (kError);
// the owner closes the connection. Never throws except std::bad_alloc on the one allocation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace vpn::stream {

inline constexpr std::size_t kFrameHeaderSize = 2;
inline constexpr std::size_t kMaxFrame = 65535;

// Writes the length header for a datagram of `size` bytes into out. False (out untouched) if size
// is 0 or above kMaxFrame.
bool encodeFrameHeader(std::size_t size, std::span<std::uint8_t, kFrameHeaderSize> out);

class FrameDecoder {
 public:
  enum class Status { kFrame, kNeedMore, kError };

  FrameDecoder();
  ~FrameDecoder();
  FrameDecoder(FrameDecoder&&) noexcept;
  FrameDecoder& operator=(FrameDecoder&&) noexcept;
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Consumes bytes from the front of `input` (advancing it) until one frame is complete:
  // kFrame sets `frame` (a view into input or into the decoder's buffer, valid until the next
  // call); kNeedMore means input is used up and any partial frame is buffered; kError means a
  // zero-length frame was seen (now and on every later call). The input is mutable so a frame can
  // be decrypted in place.
  Status next(std::span<std::uint8_t>& input, std::span<std::uint8_t>& frame);

  // Calls on_frame(std::span<std::uint8_t>) for each complete frame in bytes. on_frame returns
  // true to go on or false to stop at once (the rest of bytes is dropped and the decoder is not
  // touched again, so the callback may destroy it). Returns kNeedMore when all bytes were
  // consumed, kFrame when on_frame stopped it, kError on a zero-length frame.
  template <typename OnFrame>
  Status feed(std::span<std::uint8_t> bytes, OnFrame&& on_frame) {
    std::span<std::uint8_t> frame;
    while (true) {
      Status s = next(bytes, frame);
      if (s != Status::kFrame) {
        return s;
      }
      if (!on_frame(frame)) {
        return Status::kFrame;
      }
    }
  }

  bool failed() const { return failed_; }
  // Bytes of a partial frame held in the buffer (header included).
  std::size_t buffered() const { return have_; }
  // Forgets any partial frame and clears the error.
  void reset();

 private:
  std::unique_ptr<std::uint8_t[]> buf_;  // kFrameHeaderSize + kMaxFrame once allocated
  std::size_t have_ = 0;                 // bytes in buf_
  bool failed_ = false;
};

}  // namespace vpn::stream
