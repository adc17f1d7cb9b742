#include "crypto/replay_window.hpp"

namespace vpn::crypto {

// Semantics: with H the highest committed counter, a counter c is acceptable if c > H, or if
// H - c < kWindowSize and c has not been committed. So H - (kWindowSize - 1) is the oldest
// counter still accepted and H - kWindowSize is too old. Before the first commit everything is
// acceptable, including 0.
template <std::uint64_t WindowBits>
bool BasicReplayWindow<WindowBits>::check(std::uint64_t counter) const {
  if (!any_ || counter > highest_) {
    return true;
  }
  if (highest_ - counter >= kWindowSize) {
    return false;
  }
  std::uint64_t block = (counter / kBlockBits) % kBlocks;
  std::uint64_t bit = std::uint64_t{1} << (counter % kBlockBits);
  return (bits_[block] & bit) == 0;
}

template <std::uint64_t WindowBits>
bool BasicReplayWindow<WindowBits>::commit(std::uint64_t counter) {
  if (!check(counter)) {
    return false;
  }
  if (!any_) {
    bits_.fill(0);
    highest_ = counter;
    any_ = true;
  } else if (counter > highest_) {
    // Clear the blocks the window slides over; the ring has one spare block so the block that
    // holds highest_ - (kWindowSize - 1) is never the one being cleared.
    std::uint64_t cur = highest_ / kBlockBits;
    std::uint64_t diff = counter / kBlockBits - cur;
    if (diff >= kBlocks) {
      bits_.fill(0);
    } else {
      for (std::uint64_t i = 1; i <= diff; ++i) {
        bits_[(cur + i) % kBlocks] = 0;
      }
    }
    highest_ = counter;
  }
  bits_[(counter / kBlockBits) % kBlocks] |= std::uint64_t{1} << (counter % kBlockBits);
  return true;
}

template <std::uint64_t WindowBits>
void BasicReplayWindow<WindowBits>::reset() {
  bits_.fill(0);
  highest_ = 0;
  any_ = false;
}

template class BasicReplayWindow<8192>;
template class BasicReplayWindow<256>;

}  // namespace vpn::crypto
