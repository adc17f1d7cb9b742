#pragma once
// WorkQueue: runs blocking jobs (a library that only has a blocking API, such as UPnP's SOAP
// calls) on libuv's thread pool, one job at a time and in the order submitted, and reports each
// one's end on the loop thread.
//
// Ordering is the point: a job that deletes what an earlier job created must not overtake it, so
// the next job is only handed to the pool when the previous one has finished. `work` runs on a
// pool thread and must touch only what it captured (share state with shared_ptr); `done` runs on
// the loop thread afterwards.
//
// Lifetime: destroying the queue drops the jobs not started yet and detaches the running one:
// its `work` still runs to the end (a pool thread cannot be interrupted) but its `done` does
// not. A running job keeps the loop's run() from returning until it ends, which lets a last job
// (a deletion at shutdown) finish before the program exits. Threading: submit and the
// destructor on the loop thread only. Never throws except std::bad_alloc; `work` must not throw
// (an exception there is caught and logged).
#include <uv.h>

#include <deque>
#include <functional>

namespace vpn::net {

class WorkQueue {
 public:
  using Job = std::function<void()>;

  explicit WorkQueue(uv_loop_t& loop);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void submit(Job work, Job done);
  // Jobs submitted and not yet done (the running one included).
  std::size_t pending() const { return queued_.size() + (running_ != nullptr ? 1 : 0); }

 private:
  struct Running;
  void startNext();
  static void onWork(uv_work_t* req);
  static void onAfterWork(uv_work_t* req, int status);

  uv_loop_t& loop_;
  std::deque<std::pair<Job, Job>> queued_;
  Running* running_ = nullptr;  // owned by libuv until onAfterWork
};

}  // namespace vpn::net
