#pragma once
// FdWatcher: calls on_readable whenever a caller-owned fd (e.g. the TUN device) becomes readable.
//
// Ownership: never closes the fd. The owner of the fd stops and destroys the watcher first, then
// closes the fd (never close a fd while it is polled).
// Wake-ups may be spurious: the callback must read until EAGAIN and tolerate reading nothing. On a
// poll error libuv stops the watcher; the callback is still invoked once so the owner's read()
// surfaces the error.
// The callback may call stop() but must not destroy the watcher.
// Threading: loop thread only. Errors: create() throws NetError.
#include <uv.h>

#include <functional>
#include <memory>

#include "net/net_error.hpp"
#include "net/uv_handle.hpp"

namespace vpn::net {

class FdWatcher {
 public:
  static std::unique_ptr<FdWatcher> create(uv_loop_t& loop, int fd,
                                           std::function<void()> on_readable);
  ~FdWatcher();
  FdWatcher(const FdWatcher&) = delete;
  FdWatcher& operator=(const FdWatcher&) = delete;

  // Stops watching and closes the poll handle (not the fd). Idempotent.
  void stop();

 private:
  explicit FdWatcher(std::function<void()> on_readable) : on_readable_(std::move(on_readable)) {}
  static void onPoll(uv_poll_t* handle, int status, int events);

  std::function<void()> on_readable_;
  UvHandle<uv_poll_t> poll_;
};

}  // namespace vpn::net
