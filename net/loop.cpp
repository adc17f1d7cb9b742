#include "net/loop.hpp"

#include "base/log.hpp"

namespace vpn::net {
namespace {

void forceClose(uv_handle_t* h, void* arg) {
  if (uv_is_closing(h) != 0) {
    return;
  }
  ++*static_cast<std::size_t*>(arg);
  LOG_WARN("closing a %s handle its owner left open at shutdown",
           uv_handle_type_name(uv_handle_get_type(h)));
  h->data = nullptr;
  uv_close(h, nullptr);
}

void countOpen(uv_handle_t* h, void* arg) {
  if (uv_is_closing(h) == 0) {
    ++*static_cast<std::size_t*>(arg);
  }
}

}  // namespace

std::size_t openHandleCount(uv_loop_t& loop) {
  std::size_t n = 0;
  uv_walk(&loop, &countOpen, &n);
  return n;
}

DrainResult closeAllAndDrain(uv_loop_t& loop, int max_iterations) {
  DrainResult result;
  for (int i = 0; i < max_iterations; ++i) {
    // Close callbacks of earlier iterations may have created handles; sweep every time.
    uv_walk(&loop, &forceClose, &result.force_closed);
    if (uv_loop_close(&loop) == 0) {
      result.loop_closed = true;
      return result;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  LOG_ERROR("the event loop still had active handles or requests after %d iterations",
            max_iterations);
  return result;
}

}  // namespace vpn::net
