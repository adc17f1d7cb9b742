#pragma once
// ReplayWindow: a sliding window over 64-bit packet counters (RFC 6479 style bitmap).
// With H the highest committed counter, counters H - (kWindowSize - 1) .. H are inside the window
// and each is accepted once; H - kWindowSize and older are rejected as too old; anything above H
// is accepted. Counter 0 is a valid counter. Use check() before decrypting (cheap reject) and commit()
// only after the packet authenticated, so forged packets cannot move the window.
// Value type, no allocation, not thread-safe.
#include <array>
#include <cstdint>

namespace vpn::crypto {

class ReplayWindow {
 public:
  static constexpr std::uint64_t kWindowSize = 8192;

  // True if `counter` has not been seen and is not too old.
  bool check(std::uint64_t counter) const;
  // Marks `counter` seen, sliding the window forward if needed. Returns false (and changes
  // nothing) if check(counter) would be false.
  bool commit(std::uint64_t counter);
  void reset();
  std::uint64_t highest() const { return highest_; }

 private:
  static constexpr std::uint64_t kBlockBits = 64;
  // One extra block so the window slides a block at a time without losing live bits.
  static constexpr std::size_t kBlocks = kWindowSize / kBlockBits + 1;
  std::array<std::uint64_t, kBlocks> bits_{};
  std::uint64_t highest_ = 0;
  bool any_ = false;
};

}  // namespace vpn::crypto
