// BatchPool: every item of a batch is run exactly once, each range by one lane, on several
// threads when the batch is large enough, and many batches in a row do not lose a wake-up.
#include "base/batch_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace vpn::base {
namespace {

TEST(BatchPool, EveryItemRunsOnceAcrossLanes) {
  BatchPool pool(3, 4);
  ASSERT_EQ(pool.lanes(), 3u);
  std::vector<int> hits(100, 0);
  std::mutex m;
  std::set<std::size_t> begins;
  std::set<std::thread::id> threads;
  pool.run(hits.size(), [&](std::size_t lane, std::size_t b, std::size_t e) {
    if (b == 0) {
      // The caller's own range is slow: the workers have long claimed theirs when it ends.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (std::size_t i = b; i < e; ++i) {
      hits[i]++;  // ranges are disjoint: no two lanes touch one item
    }
    std::lock_guard<std::mutex> g(m);
    EXPECT_TRUE(begins.insert(b).second) << "range at " << b << " ran twice";
    EXPECT_EQ(b == 0, lane == 0) << "range at " << b << " on lane " << lane;
    threads.insert(std::this_thread::get_id());
  });
  for (std::size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i], 1) << i;
  }
  EXPECT_EQ(begins.size(), 3u);
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(pool.parallelBatches(), 1u);
}

TEST(BatchPool, SmallBatchesAndOneLaneRunOnTheCaller) {
  BatchPool pool(2, 8);
  std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  pool.run(7, [&](std::size_t lane, std::size_t b, std::size_t e) {
    ++calls;
    EXPECT_EQ(lane, 0u);
    EXPECT_EQ(b, 0u);
    EXPECT_EQ(e, 7u);
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(pool.parallelBatches(), 0u);

  BatchPool single(1);
  single.run(1000, [&](std::size_t lane, std::size_t b, std::size_t e) {
    EXPECT_EQ(lane, 0u);
    EXPECT_EQ(e - b, 1000u);
  });
  pool.run(0, [&](std::size_t, std::size_t, std::size_t) { ADD_FAILURE() << "empty batch ran"; });
}

TEST(BatchPool, ManyBatchesInARowEachCompleteBeforeRunReturns) {
  BatchPool pool(4, 2);
  std::vector<std::atomic<int>> sum(64);
  for (int round = 0; round < 5000; ++round) {
    std::size_t n = 2 + static_cast<std::size_t>(round % 63);
    pool.run(n, [&](std::size_t, std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        sum[i].fetch_add(1, std::memory_order_relaxed);
      }
    });
    // run() returned: every item of this round is counted already.
    ASSERT_EQ(sum[n - 1].load(), [&] {
      int expect = 0;
      for (int r = 0; r <= round; ++r) {
        expect += (2 + static_cast<std::size_t>(r % 63)) >= n ? 1 : 0;
      }
      return expect;
    }()) << "round " << round;
  }
  EXPECT_EQ(pool.parallelBatches(), 5000u);
}

}  // namespace
}  // namespace vpn::base
