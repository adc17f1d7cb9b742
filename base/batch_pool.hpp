#pragma once
// BatchPool: runs one batch of independent items on several threads at once, the caller's
// thread included, and returns when all are done. The data path uses it to seal a batch of
// packets on every core (session/aead_batch.hpp).
//
// Design: lanes-1 worker threads sleep on one atomic generation counter. run(n, fn) splits
// [0, n) into `lanes` contiguous ranges, bumps the generation (one futex wake for all) and runs
// range 0 itself. Each other range has a claim word: whoever claims it first runs it, the worker
// of that lane or, once it is done with its own, the caller. So a worker that is slow to wake
// (another process holds its core) costs nothing: the caller does its range and returns, and
// waits only for ranges a worker has actually started, spinning on them for up to kSpin before
// it sleeps (a range takes microseconds; a futex wake-up on a VM takes longer). Per batch that is
// one wake-up and one compare-and-swap per range; nothing per item, no lock and no allocation. A
// batch smaller than min_parallel items runs on the caller alone: waking a thread costs a few
// microseconds, as much as sealing a few packets. Worker threads are named vpn-lane-N (top -H,
// perf, taskset).
// `lane` tells fn which thread runs it (0 = the caller), whatever range that is: callers keep
// per-lane state (an OpenSSL context per lane) indexed by it.
// Ownership: the pool owns its threads; the destructor stops and joins them.
// Threading: run() from one thread at a time (the owner's); fn is called on the lanes' threads.
// Errors: the constructor throws std::system_error if a thread cannot start; run() never throws
// (fn must not throw).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace vpn::base {

class BatchPool {
 public:
  // lanes >= 1: 1 means no threads (run() calls fn inline).
  explicit BatchPool(std::size_t lanes, std::size_t min_parallel = 8);
  ~BatchPool();
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;

  std::size_t lanes() const { return workers_.size() + 1; }

  // Calls fn(lane, begin, end) for contiguous ranges covering [0, n), each range on its own
  // thread, and returns when all have returned.
  template <class Fn>
  void run(std::size_t n, Fn&& fn) {
    if (n == 0) {
      return;
    }
    if (workers_.empty() || n < min_parallel_) {
      fn(std::size_t{0}, std::size_t{0}, n);
      return;
    }
    dispatch(n, &fn, [](void* f, std::size_t lane, std::size_t b, std::size_t e) {
      (*static_cast<std::remove_reference_t<Fn>*>(f))(lane, b, e);
    });
  }

  std::uint64_t parallelBatches() const { return parallel_batches_; }

 private:
  using Trampoline = void (*)(void*, std::size_t, std::size_t, std::size_t);
  void dispatch(std::size_t n, void* fn, Trampoline call);
  void workerLoop(std::size_t lane);
  // Claims range r (kFree -> kRunning) and runs it as `lane`; false if someone else had it.
  bool runRange(std::size_t r, std::size_t lane);
  std::size_t rangeBegin(std::size_t r) const { return n_ * r / lanes(); }

  // How long a worker looks for the next batch, and the caller waits on a started range, before
  // sleeping.
  static constexpr std::chrono::microseconds kSpin{50};
  enum : std::uint32_t { kFree = 0, kRunning = 1, kDone = 2 };
  struct alignas(64) Claim {
    std::atomic<std::uint32_t> state{kDone};
  };

  std::size_t min_parallel_;
  std::vector<std::thread> workers_;
  // The batch being run; written by run() before the generation is bumped.
  std::size_t n_ = 0;
  void* fn_ = nullptr;
  Trampoline call_ = nullptr;
  std::atomic<std::uint32_t> generation_{0};
  std::vector<Claim> claims_;  // one per range; range 0 is always the caller's
  std::atomic<bool> stop_{false};
  std::uint64_t parallel_batches_ = 0;
};

}  // namespace vpn::base
