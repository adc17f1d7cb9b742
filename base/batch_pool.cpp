#include "base/batch_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace vpn::base {
namespace {

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

BatchPool::BatchPool(std::size_t lanes, std::size_t min_parallel)
    : min_parallel_(std::max<std::size_t>(min_parallel, 2)),
      claims_(std::max<std::size_t>(lanes, 1)) {
  lanes = std::max<std::size_t>(lanes, 1);
  workers_.reserve(lanes - 1);
  try {
    for (std::size_t lane = 1; lane < lanes; ++lane) {
      workers_.emplace_back([this, lane] { workerLoop(lane); });
    }
  } catch (...) {
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) {
      t.join();
    }
    throw;
  }
}

BatchPool::~BatchPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : workers_) {
    t.join();
  }
}

bool BatchPool::runRange(std::size_t r, std::size_t lane) {
  std::uint32_t expect = kFree;
  if (!claims_[r].state.compare_exchange_strong(expect, kRunning, std::memory_order_acq_rel)) {
    return false;
  }
  // The batch (n_, fn_, call_) was written before this claim was freed, and stays until every
  // range is done.
  std::size_t end = r + 1 == lanes() ? n_ : rangeBegin(r + 1);
  call_(fn_, lane, rangeBegin(r), end);
  claims_[r].state.store(kDone, std::memory_order_release);
  claims_[r].state.notify_one();
  return true;
}

void BatchPool::dispatch(std::size_t n, void* fn, Trampoline call) {
  n_ = n;
  fn_ = fn;
  call_ = call;
  for (std::size_t r = 1; r < lanes(); ++r) {
    claims_[r].state.store(kFree, std::memory_order_release);  // publishes the batch
  }
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  call_(fn_, 0, 0, rangeBegin(1));
  for (std::size_t r = 1; r < lanes(); ++r) {
    if (runRange(r, 0)) {
      continue;  // its worker had not started it: done here
    }
    // The worker is running this range right now and finishes within microseconds, sooner
    // than this thread would wake up from a futex: spin on it, and sleep only if it takes long
    // (its thread lost its core).
    auto spin_until = std::chrono::steady_clock::now() + kSpin;
    std::uint32_t v = claims_[r].state.load(std::memory_order_acquire);
    for (unsigned i = 0; v != kDone; v = claims_[r].state.load(std::memory_order_acquire)) {
      if ((++i & 63) != 0 || std::chrono::steady_clock::now() < spin_until) {
        cpuRelax();
      } else {
        claims_[r].state.wait(v, std::memory_order_acquire);
      }
    }
  }
  ++parallel_batches_;
}

void BatchPool::workerLoop(std::size_t lane) {
#ifdef __linux__
  // A name for top -H, perf and taskset (bench/worker_gain.sh pins the lanes by it).
  const std::string name = "vpn-lane-" + std::to_string(lane);
  pthread_setname_np(pthread_self(), name.c_str());
#endif
  std::uint32_t seen = 0;
  for (;;) {
    // Under load the next batch follows within microseconds, sooner than a sleeping thread wakes
    // up (tens of microseconds on a VM): look for it a little while before sleeping.
    auto spin_until = std::chrono::steady_clock::now() + kSpin;
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
      cpuRelax();
    }
    generation_.wait(seen, std::memory_order_acquire);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) {
      return;
    }
    // If the caller already took this range (or this wake-up is late and the batch is over),
    // the claim fails and there is nothing to do.
    runRange(lane, lane);
  }
}

}  // namespace vpn::base
