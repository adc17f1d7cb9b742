#pragma once
// FakeClock: a virtual Instant that only moves when a test moves it. Starts an hour after the
// steady_clock epoch so "now - something" never underflows.
#include <cassert>

#include "base/time.hpp"

namespace vpn::test {

class FakeClock {
 public:
  Instant now() const { return now_; }
  void advance(Duration d) {
    assert(d >= Duration::zero());
    now_ += d;
  }
  void set(Instant t) {
    assert(t >= now_);
    now_ = t;
  }

 private:
  Instant now_ = Instant{} + std::chrono::hours(1);
};

}  // namespace vpn::test
