#pragma once
// Timer: one-shot timer at an absolute steady_clock deadline, the engines' nextDeadline().
//
// on_fire runs on the loop thread no earlier than the deadline (libuv has millisecond resolution
// and a cached clock, so a wake-up that comes early is silently re-armed for the remainder).
// Re-arming replaces the previous deadline. The callback may re-arm or cancel the timer, but must
// not destroy it (destroy it after the callback returns, e.g. from the next loop step).
// Ownership: the uv_timer_t is closed (and freed by the loop) when the Timer is destroyed.
// Threading: loop thread only. Errors: the constructor throws NetError.
#include <uv.h>

#include <functional>

#include "base/time.hpp"
#include "net/net_error.hpp"
#include "net/uv_handle.hpp"

namespace vpn::net {

class Timer {
 public:
  Timer(uv_loop_t& loop, std::function<void()> on_fire);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Arms the timer for deadline (past deadlines fire on the next loop iteration); kNever disarms.
  void armAt(Instant deadline);
  void cancel();
  bool armed() const { return deadline_ != kNever; }
  Instant deadline() const { return deadline_; }

 private:
  static void onTimer(uv_timer_t* handle);
  void start();

  uv_loop_t& loop_;
  std::function<void()> on_fire_;
  UvHandle<uv_timer_t> timer_;
  Instant deadline_ = kNever;
};

}  // namespace vpn::net
