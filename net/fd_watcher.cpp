#include "net/fd_watcher.hpp"

#include <string>

#include "base/log.hpp"
#include "net/net_error.hpp"

namespace vpn::net {

std::unique_ptr<FdWatcher> FdWatcher::create(uv_loop_t& loop, int fd,
                                             std::function<void()> on_readable) {
  std::unique_ptr<FdWatcher> w(new FdWatcher(std::move(on_readable)));
  int rc = w->poll_.init([&](uv_poll_t* p) { return uv_poll_init(&loop, p, fd); });
  if (rc < 0) {
    throw NetError("cannot watch file descriptor " + std::to_string(fd) + ": " +
                   uv_strerror(rc));
  }
  w->poll_->data = w.get();
  rc = uv_poll_start(w->poll_.get(), UV_READABLE, &FdWatcher::onPoll);
  if (rc < 0) {
    throw NetError("cannot watch file descriptor " + std::to_string(fd) + ": " +
                   uv_strerror(rc));
  }
  return w;
}

FdWatcher::~FdWatcher() { stop(); }

void FdWatcher::stop() {
  if (poll_) {
    uv_poll_stop(poll_.get());
    poll_.reset();
  }
}

void FdWatcher::onPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<FdWatcher*>(handle->data);
  if (self == nullptr) {
    return;
  }
  if (status < 0) {
    LOG_WARN("poll error on a watched file descriptor: %s", uv_strerror(status));
  }
  self->on_readable_();
}

}  // namespace vpn::net
