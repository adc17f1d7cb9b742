#pragma once
// ReplayWindow: a sliding window over 64-bit packet counters (RFC 6479 style bitmap).
// With H the highest committed counter, counters H - (kWindowSize - 1) .. H are inside the window
// and each is accepted once; H - kWindowSize and older are rejected as too old; anything above H
// is accepted. Counter 0 is a valid counter. Use check() before decrypting (cheap reject) and commit()
// only after the packet authenticated, so forged packets cannot move the window.
// The size is a template parameter: ReplayWindow (8192 packets, 1 KB) is the data path's, where
// packets arrive fast and reordered; SmallReplayWindow (256 packets, 40 bytes of bits) suits
// low-rate sessions whose packets arrive nearly in order, such as the rendezvous server's control
// sessions, where it is held once per registered peer.
// Value type, no allocation, not thread-safe.
#include <array>
#include <cstddef>
#include <cstdint>

namespace vpn::crypto {

template <std::uint64_t WindowBits>
class BasicReplayWindow {
  static_assert(WindowBits >= 64 && WindowBits % 64 == 0, "a whole number of 64-bit blocks");

 public:
  static constexpr std::uint64_t kWindowSize = WindowBits;

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

// Defined in replay_window.cpp for these sizes only.
extern template class BasicReplayWindow<8192>;
extern template class BasicReplayWindow<256>;

using ReplayWindow = BasicReplayWindow<8192>;
using SmallReplayWindow = BasicReplayWindow<256>;

}  // namespace vpn::crypto
