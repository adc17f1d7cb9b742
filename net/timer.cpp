#include "net/timer.hpp"

#include <string>

#include "net/net_error.hpp"

namespace vpn::net {

Timer::Timer(uv_loop_t& loop, std::function<void()> on_fire)
    : loop_(loop), on_fire_(std::move(on_fire)) {
  int rc = timer_.init([&](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  if (rc < 0) {
    throw NetError(std::string("cannot create a timer: ") + uv_strerror(rc));
  }
  timer_->data = this;
}

Timer::~Timer() = default;  // UvHandle closes the handle; its data is cleared first

void Timer::armAt(Instant deadline) {
  deadline_ = deadline;
  if (deadline == kNever) {
    uv_timer_stop(timer_.get());
    return;
  }
  start();
}

void Timer::cancel() { armAt(kNever); }

void Timer::start() {
  // libuv measures from its cached loop time; refresh it so the delay is taken from "now".
  uv_update_time(&loop_);
  auto left = deadline_ - Clock::now();
  std::uint64_t ms = 0;
  if (left > Duration::zero()) {
    ms = static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }
  uv_timer_start(timer_.get(), &Timer::onTimer, ms, 0);
}

void Timer::onTimer(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (self == nullptr || self->deadline_ == kNever) {
    return;
  }
  if (Clock::now() < self->deadline_) {
    self->start();  // libuv's coarse clock woke us early
    return;
  }
  self->deadline_ = kNever;
  self->on_fire_();
}

}  // namespace vpn::net
