#include "net/work_queue.hpp"

#include <exception>
#include <memory>

#include "base/log.hpp"

namespace vpn::net {

struct WorkQueue::Running {
  uv_work_t req{};
  WorkQueue* owner = nullptr;  // null once the queue is gone: onAfterWork only frees
  Job work;
  Job done;
};

WorkQueue::WorkQueue(uv_loop_t& loop) : loop_(loop) {}

WorkQueue::~WorkQueue() {
  if (running_ != nullptr) {
    running_->owner = nullptr;
  }
}

void WorkQueue::submit(Job work, Job done) {
  queued_.emplace_back(std::move(work), std::move(done));
  if (running_ == nullptr) {
    startNext();
  }
}

void WorkQueue::startNext() {
  while (running_ == nullptr && !queued_.empty()) {
    auto r = std::make_unique<Running>();
    r->owner = this;
    r->work = std::move(queued_.front().first);
    r->done = std::move(queued_.front().second);
    queued_.pop_front();
    r->req.data = r.get();
    int rc = uv_queue_work(&loop_, &r->req, &WorkQueue::onWork, &WorkQueue::onAfterWork);
    if (rc != 0) {
      // Only possible with a null callback or a closing loop; the job is dropped, loudly.
      LOG_WARN("cannot start a background job: %s", uv_strerror(rc));
      continue;
    }
    running_ = r.release();
  }
}

void WorkQueue::onWork(uv_work_t* req) {
  auto* r = static_cast<Running*>(req->data);
  try {
    r->work();
  } catch (const std::exception& e) {
    LOG_WARN("background job failed: %s", e.what());
  } catch (...) {
    LOG_WARN("background job failed");
  }
}

void WorkQueue::onAfterWork(uv_work_t* req, int status) {
  std::unique_ptr<Running> r(static_cast<Running*>(req->data));
  WorkQueue* owner = r->owner;
  if (owner == nullptr) {
    return;
  }
  owner->running_ = nullptr;
  owner->startNext();  // before done(), which may submit more or even destroy the queue
  if (status == 0 && r->done) {
    r->done();
  }
}

}  // namespace vpn::net
