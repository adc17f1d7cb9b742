#pragma once
// Loop shutdown helper.
//
// closeAllAndDrain closes every handle that is not closing yet (these are handles whose owner was
// never destroyed: a bug, logged as a warning and counted), then runs the loop until uv_loop_close
// succeeds, for a bounded number of iterations. Destroy every owning object (transports, timers,
// watchers, servers) BEFORE calling it: their close callbacks free memory during the drain.
// The loop itself (uv_loop_t storage) stays owned by the caller; after a successful drain it is
// closed and must not be used again (except uv_loop_init).
// Threading: loop thread only, not from inside a loop callback. Never throws.
#include <uv.h>

#include <cstddef>

namespace vpn::net {

struct DrainResult {
  std::size_t force_closed = 0;  // handles still open on entry (tests assert zero)
  bool loop_closed = false;      // uv_loop_close succeeded
};

DrainResult closeAllAndDrain(uv_loop_t& loop, int max_iterations = 1000);

// Number of handles on the loop that are not closing (uv_walk; handy in tests).
std::size_t openHandleCount(uv_loop_t& loop);

}  // namespace vpn::net
