#pragma once
// Test fixture: every test gets its own uv_loop_t (never uv_default_loop) and must leave it
// clean: TearDown drains it and asserts no handle was left open.
#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <functional>

#include "net/loop.hpp"
#include "net/timer.hpp"

namespace vpn::net::test {

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    DrainResult r = closeAllAndDrain(loop_);
    EXPECT_EQ(r.force_closed, 0u) << "a handle was left open by its owner";
    EXPECT_TRUE(r.loop_closed);
  }

  // Runs the loop until done() or the limit passes. A 5 ms tick keeps the loop waking up so
  // done() is re-checked even if it depends on another thread.
  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    const Instant deadline = Clock::now() + limit;
    Timer* tick_ptr = nullptr;
    Timer tick(loop_, [&] { tick_ptr->armAt(Clock::now() + std::chrono::milliseconds(5)); });
    tick_ptr = &tick;
    tick.armAt(Clock::now());
    while (!done() && Clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return done();
  }

  uv_loop_t loop_{};
};

}  // namespace vpn::net::test
