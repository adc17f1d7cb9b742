#pragma once
// NetworkWatch: tells the daemon when the host's network changed under it (an address added or
// removed, a default route or a link changed), from rtnetlink events (tun/netlink_monitor.hpp).
// That is the moment to re-register and re-probe (docs/paths.md rule 7), long before a keepalive
// would notice.
//
// Events of the interfaces in `ignore` (our own TUN device) are left out. The first event calls
// on_change at once; more within kCoalesce are folded into one trailing call, so a host move
// (link down, address gone, new address, new route) costs two calls, not ten.
//
// Ownership: owned by the daemon; borrows the loop. Threading: the loop's thread only.
// Errors: open() returns a sentence when the netlink socket cannot be opened (the daemon then
// runs without it and relies on keepalives); read errors later are logged and treated as a change.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "net/fd_watcher.hpp"
#include "net/timer.hpp"
#include "tun/netlink_monitor.hpp"

namespace vpn::client {

class NetworkWatch {
 public:
  static constexpr Duration kCoalesce = std::chrono::milliseconds(100);

  // Empty string on success.
  std::string open(uv_loop_t& loop, std::vector<int> ignore_ifindex, std::function<void()> on_change);
  void close();

 private:
  void onReadable();
  void fire();

  std::unique_ptr<tun::NetlinkMonitor> monitor_;
  std::unique_ptr<net::FdWatcher> watcher_;
  std::unique_ptr<net::Timer> trailing_;
  std::vector<int> ignore_;
  std::function<void()> on_change_;
  Instant last_fire_{};
};

}  // namespace vpn::client
