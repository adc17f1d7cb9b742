#pragma once
// ServiceNotifier: tells systemd what the program is doing when systemd started it as a
// Type=notify service (NOTIFY_SOCKET set): READY=1 once the device is up and the sockets are
// bound, RELOADING=1 around a reload, STOPPING=1 at shutdown, a STATUS= line for
// `systemctl status`, and WATCHDOG=1 keep-alives at the interval WatchdogSec= asks for. Without
// systemd every call does nothing. sd_notify(3) from libsystemd does the talking.
//
// Single-threaded (the event loop's); never throws; a failed notification is ignored (systemd
// then restarts us on its watchdog or start timeout, which is what we want).
#include <chrono>
#include <string>

namespace vpn::os {

class ServiceNotifier {
 public:
  ServiceNotifier();

  bool underSystemd() const { return under_systemd_; }
  void ready(const std::string& status);
  void reloading();
  void stopping();
  void status(const std::string& text);
  void watchdog();
  // Half of WatchdogSec= (when to send WATCHDOG=1), or zero when no watchdog is armed.
  std::chrono::milliseconds watchdogPeriod() const { return watchdog_period_; }

 private:
  void send(const std::string& state);

  bool under_systemd_ = false;
  std::chrono::milliseconds watchdog_period_{0};
};

}  // namespace vpn::os
