#pragma once
// FuzzInput: reads a fuzzer's bytes as a little program (choices, lengths, chunks), for targets
// that need more than one buffer. Running out of bytes yields zeros and empty chunks, never an
// error, so every input is a valid program. No allocation; views point into the input.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace vpn::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

  bool empty() const { return rest_.empty(); }
  std::size_t remaining() const { return rest_.size(); }

  std::uint8_t byte() {
    if (rest_.empty()) {
      return 0;
    }
    std::uint8_t b = rest_[0];
    rest_ = rest_.subspan(1);
    return b;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>((byte() << 8) | byte()); }
  // A chunk whose length (up to `max`) is read first as 16 bits.
  std::span<const std::uint8_t> chunk(std::size_t max) {
    std::size_t n = u16() % (max + 1);
    return take(n);
  }
  std::span<const std::uint8_t> take(std::size_t n) {
    n = n < rest_.size() ? n : rest_.size();
    auto out = rest_.first(n);
    rest_ = rest_.subspan(n);
    return out;
  }
  std::span<const std::uint8_t> all() { return take(rest_.size()); }

 private:
  std::span<const std::uint8_t> rest_;
};

inline std::string_view asText(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Stops a fuzz run at a broken invariant (libFuzzer reports the abort with the input).
[[noreturn]] void invariantFailed(const char* what);
#define FUZZ_CHECK(cond)                       \
  do {                                         \
    if (!(cond)) {                             \
      ::vpn::fuzz::invariantFailed(#cond);     \
    }                                          \
  } while (0)

}  // namespace vpn::fuzz
