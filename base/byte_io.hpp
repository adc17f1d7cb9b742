#pragma once
// ByteReader / ByteWriter: bounds-checked big-endian access to caller-owned memory.
// Both are sticky on failure: after the first out-of-bounds access every read returns zero or an
// empty span and every write is dropped, and ok() is false. Check ok() once after a sequence.
// Neither owns nor allocates; the underlying memory must outlive them. Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace vpn {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> data) : data_(data) {}

  std::uint8_t u8() {
    auto b = take(1);
    return b.empty() ? 0 : b[0];
  }
  std::uint16_t u16() {
    auto b = take(2);
    return b.empty() ? 0 : static_cast<std::uint16_t>((b[0] << 8) | b[1]);
  }
  std::uint32_t u32() {
    auto b = take(4);
    if (b.empty()) {
      return 0;
    }
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }
  std::uint64_t u64() {
    std::uint64_t hi = u32();
    std::uint64_t lo = u32();
    return (hi << 32) | lo;
  }
  // Returns a view of the next n bytes, or an empty span (and fails) if fewer remain.
  std::span<const std::uint8_t> bytes(std::size_t n) { return take(n); }
  std::span<const std::uint8_t> rest() { return take(remaining()); }

  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  std::size_t position() const { return pos_; }
  bool ok() const { return ok_; }

 private:
  std::span<const std::uint8_t> take(std::size_t n) {
    if (!ok_ || n > data_.size() - pos_) {
      ok_ = false;
      return {};
    }
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class ByteWriter {
 public:
  explicit ByteWriter(std::span<std::uint8_t> out) : out_(out) {}

  void u8(std::uint8_t v) { put(&v, 1); }
  void u16(std::uint16_t v) {
    std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    put(b, 2);
  }
  void u32(std::uint32_t v) {
    std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                         static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    put(b, 4);
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void bytes(std::span<const std::uint8_t> b) { put(b.data(), b.size()); }
  void zeros(std::size_t n) {
    if (!ok_ || n > out_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memset(out_.data() + pos_, 0, n);
    pos_ += n;
  }

  std::size_t size() const { return pos_; }
  std::size_t remaining() const { return ok_ ? out_.size() - pos_ : 0; }
  bool ok() const { return ok_; }
  std::span<std::uint8_t> written() const { return out_.first(pos_); }

 private:
  void put(const std::uint8_t* p, std::size_t n) {
    if (!ok_ || n > out_.size() - pos_) {
      ok_ = false;
      return;
    }
    if (n != 0) {
      std::memcpy(out_.data() + pos_, p, n);
    }
    pos_ += n;
  }

  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace vpn
