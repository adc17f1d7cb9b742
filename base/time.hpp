#pragma once
// Time vocabulary for the I/O-free engines: they never read a clock, they are handed `now`.
// Real code passes steady_clock::now(); tests pass a FakeClock's virtual instant.
#include <chrono>

namespace vpn {

using Clock = std::chrono::steady_clock;
using Instant = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

// "No deadline": engines return this from nextDeadline() when they have no timer armed.
inline constexpr Instant kNever = Instant::max();

inline double toSeconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace vpn
