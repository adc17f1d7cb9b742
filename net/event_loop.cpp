#include "net/event_loop.hpp"

#include "base/log.hpp"
#include "net/loop.hpp"
#include "net/net_error.hpp"

namespace vpn::net {

EventLoop::EventLoop() {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) {
    throw NetError(std::string("cannot initialise the event loop: ") + uv_strerror(rc));
  }
  open_ = true;
}

EventLoop::~EventLoop() {
  drain();
}

void EventLoop::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void EventLoop::drain() {
  if (!open_) {
    return;
  }
  open_ = false;
  auto r = closeAllAndDrain(loop_);
  if (r.force_closed != 0 || !r.loop_closed) {
    LOG_WARN("event loop shut down with %zu handle(s) still open", r.force_closed);
  }
}

}  // namespace vpn::net
