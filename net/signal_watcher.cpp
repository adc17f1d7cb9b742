#include "net/signal_watcher.hpp"

#include <string>

#include "net/net_error.hpp"

namespace vpn::net {

SignalWatcher::SignalWatcher(uv_loop_t& loop, std::vector<int> signals,
                             std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)) {
  handles_.reserve(signals.size());
  for (int signum : signals) {
    UvHandle<uv_signal_t> h;
    int rc = h.init([&](uv_signal_t* s) { return uv_signal_init(&loop, s); });
    if (rc == 0) {
      h->data = this;
      rc = uv_signal_start(h.get(), &SignalWatcher::onSignal, signum);
    }
    if (rc < 0) {
      throw NetError("cannot watch signal " + std::to_string(signum) + ": " + uv_strerror(rc));
    }
    handles_.push_back(std::move(h));
  }
}

SignalWatcher::~SignalWatcher() = default;

void SignalWatcher::onSignal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<SignalWatcher*>(handle->data);
  if (self != nullptr) {
    self->on_signal_(signum);
  }
}

}  // namespace vpn::net
