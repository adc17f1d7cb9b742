#pragma once
// SignalWatcher: delivers POSIX signals (SIGINT, SIGTERM, SIGHUP, ...) on the loop thread.
//
// libuv turns each signal into a loop callback, so on_signal may do anything a loop callback may.
// Ownership: one uv_signal_t per signal, closed when the watcher is destroyed (the default
// disposition is restored by libuv once no watcher is left for that signal).
// Threading: construct and destroy on the loop thread. Errors: the constructor throws NetError.
#include <uv.h>

#include <functional>
#include <vector>

#include "net/net_error.hpp"
#include "net/uv_handle.hpp"

namespace vpn::net {

class SignalWatcher {
 public:
  SignalWatcher(uv_loop_t& loop, std::vector<int> signals, std::function<void(int)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  static void onSignal(uv_signal_t* handle, int signum);

  std::function<void(int)> on_signal_;
  std::vector<UvHandle<uv_signal_t>> handles_;
};

}  // namespace vpn::net
