#include "net/work_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/unit/net/loop_fixture.hpp"

namespace vpn::net::test {
namespace {

using WorkQueueTest = LoopTest;

// Jobs run one at a time in submission order, off the loop thread; done() runs on the loop
// thread after each.
TEST_F(WorkQueueTest, RunsJobsInOrderOneAtATimeOffTheLoop) {
  WorkQueue q(loop_);
  const auto loop_thread = std::this_thread::get_id();
  std::mutex m;
  std::vector<int> ran;
  std::vector<int> finished;
  std::atomic<int> running{0};
  std::atomic<int> most_at_once{0};
  std::atomic<bool> on_loop_thread{false};
  for (int i = 0; i < 6; ++i) {
    q.submit(
        [&, i] {
          int now = ++running;
          most_at_once = std::max(most_at_once.load(), now);
          if (std::this_thread::get_id() == loop_thread) {
            on_loop_thread = true;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(i % 2 == 0 ? 20 : 1));
          {
            std::lock_guard<std::mutex> lock(m);
            ran.push_back(i);
          }
          --running;
        },
        [&, i] {
          EXPECT_EQ(std::this_thread::get_id(), loop_thread);
          finished.push_back(i);
        });
  }
  EXPECT_EQ(q.pending(), 6u);
  ASSERT_TRUE(runUntil([&] { return finished.size() == 6; }));
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(most_at_once.load(), 1);
  EXPECT_FALSE(on_loop_thread.load());
  EXPECT_EQ(q.pending(), 0u);
}

// A done() may submit the next job (a renewal after a mapping, a deletion after a failure).
TEST_F(WorkQueueTest, DoneMaySubmitMore) {
  WorkQueue q(loop_);
  int chain = 0;
  std::function<void()> next = [&] {
    if (++chain < 3) {
      q.submit([] {}, next);
    }
  };
  q.submit([] {}, next);
  ASSERT_TRUE(runUntil([&] { return chain == 3; }));
  EXPECT_EQ(q.pending(), 0u);
}

// Destroying the queue drops the jobs not started; the running one still ends, without done(),
// and keeps the loop alive until then.
TEST_F(WorkQueueTest, DestroyedQueueDetachesTheRunningJob) {
  std::atomic<bool> first_ran{false};
  std::atomic<bool> second_ran{false};
  bool done_called = false;
  {
    WorkQueue q(loop_);
    q.submit(
        [&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          first_ran = true;
        },
        [&] { done_called = true; });
    q.submit([&] { second_ran = true; }, [&] { done_called = true; });
  }
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once the running job is over
  EXPECT_TRUE(first_ran.load());
  EXPECT_FALSE(second_ran.load());
  EXPECT_FALSE(done_called);
}

// An exception in a job is caught on the pool thread; done() still runs and the queue goes on.
TEST_F(WorkQueueTest, AThrowingJobDoesNotStopTheQueue) {
  WorkQueue q(loop_);
  int finished = 0;
  q.submit([] { throw std::runtime_error("boom"); }, [&] { ++finished; });
  q.submit([] {}, [&] { ++finished; });
  ASSERT_TRUE(runUntil([&] { return finished == 2; }));
}

}  // namespace
}  // namespace vpn::net::test
