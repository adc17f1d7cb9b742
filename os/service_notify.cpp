#include "os/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace vpn::os {

ServiceNotifier::ServiceNotifier() {
  under_systemd_ = std::getenv("NOTIFY_SOCKET") != nullptr;
  std::uint64_t usec = 0;
  if (under_systemd_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_period_ = std::chrono::milliseconds(usec / 2000);
  }
}

void ServiceNotifier::send(const std::string& state) {
  if (under_systemd_) {
    (void)sd_notify(0, state.c_str());
  }
}

void ServiceNotifier::ready(const std::string& text) { send("READY=1\nSTATUS=" + text); }
void ServiceNotifier::reloading() { send("RELOADING=1\nSTATUS=reloading"); }
void ServiceNotifier::stopping() { send("STOPPING=1\nSTATUS=stopping"); }
void ServiceNotifier::status(const std::string& text) { send("STATUS=" + text); }
void ServiceNotifier::watchdog() { send("WATCHDOG=1"); }

}  // namespace vpn::os
