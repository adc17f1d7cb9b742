#pragma once
// NetlinkMonitor: a non-blocking NETLINK_ROUTE socket subscribed to address, route and link
// changes (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE,
// RTMGRP_LINK), so the daemon notices when the host's addresses or default route change
// (roaming, docs/paths.md rule 7).
//
// Ownership: owns its fd and closes it in the destructor; movable, not copyable. The daemon
// watches fd() with net::FdWatcher and must stop and destroy the watcher before the monitor.
// Threading: not thread-safe; use from the event-loop thread. No hidden threads, no libuv.
// Errors: returned as values (a sentence naming what failed and the errno text), never thrown;
// only std::bad_alloc escapes. A lost notification (ENOBUFS from a receive-queue overrun, a
// truncated or malformed datagram) is reported as one kResync event: the caller then re-reads
// the state it cares about instead of trusting the events.
#include <string>
#include <vector>

#include "base/result.hpp"
#include "tun/netlink_events.hpp"

namespace vpn::tun {

class NetlinkMonitor {
 public:
  // The kernel's receive queue for the socket (SO_RCVBUF; capped by net.core.rmem_max). A larger
  // queue makes overruns rarer during bursts of changes.
  static constexpr int kDefaultReceiveBuffer = 1 << 20;

  // Opens, subscribes and binds the socket in the caller's network namespace. Unprivileged.
  static Result<NetlinkMonitor, std::string> open(int receive_buffer = kDefaultReceiveBuffer);

  ~NetlinkMonitor();
  NetlinkMonitor(NetlinkMonitor&& other) noexcept;
  NetlinkMonitor& operator=(NetlinkMonitor&& other) noexcept;
  NetlinkMonitor(const NetlinkMonitor&) = delete;
  NetlinkMonitor& operator=(const NetlinkMonitor&) = delete;

  int fd() const { return fd_; }

  // Reads every queued datagram without blocking (until EAGAIN, or kMaxDatagramsPerRead; the fd
  // then stays readable and the watcher fires again) and returns their events in order; empty if
  // nothing was queued. If anything was lost, returns exactly one kResync event instead. Datagrams
  // not sent by the kernel are ignored.
  Result<std::vector<netlink::NetlinkEvent>, std::string> readEvents();

  static constexpr int kMaxDatagramsPerRead = 256;

 private:
  explicit NetlinkMonitor(int fd);

  int fd_ = -1;
  std::vector<std::uint8_t> buf_;
};

}  // namespace vpn::tun
