#include "tun/netlink_monitor.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace vpn::tun {
namespace {

// Notifications are one message per datagram and far smaller than this; a larger one comes back
// with MSG_TRUNC and is reported as a resync.
constexpr std::size_t kReceiveBuffer = 32 * 1024;

constexpr std::uint32_t kGroups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                                  RTMGRP_IPV6_ROUTE | RTMGRP_LINK;

std::string errnoText(const char* what, int e) {
  return std::string(what) + ": " + std::strerror(e);
}

}  // namespace

Result<NetlinkMonitor, std::string> NetlinkMonitor::open(int receive_buffer) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) {
    return err(errnoText("cannot open a netlink socket for address and route changes", errno));
  }
  NetlinkMonitor monitor(fd);  // closes fd on every return below
  if (receive_buffer > 0) {
    // Best effort: the kernel caps it at net.core.rmem_max, and a smaller queue still works.
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = kGroups;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
    return err(errnoText("cannot subscribe to address and route changes (netlink bind)", errno));
  }
  monitor.buf_.resize(kReceiveBuffer);
  return monitor;
}

NetlinkMonitor::NetlinkMonitor(int fd) : fd_(fd) {}

NetlinkMonitor::~NetlinkMonitor() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

NetlinkMonitor::NetlinkMonitor(NetlinkMonitor&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buf_(std::move(other.buf_)) {}

NetlinkMonitor& NetlinkMonitor::operator=(NetlinkMonitor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    buf_ = std::move(other.buf_);
  }
  return *this;
}

Result<std::vector<netlink::NetlinkEvent>, std::string> NetlinkMonitor::readEvents() {
  std::vector<netlink::NetlinkEvent> events;
  bool lost = false;
  for (int i = 0; i < kMaxDatagramsPerRead; ++i) {
    sockaddr_nl from{};
    iovec iov{buf_.data(), buf_.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      if (errno == ENOBUFS) {
        lost = true;  // the queue overflowed; the socket stays usable, keep draining
        continue;
      }
      return err(errnoText("cannot read address and route changes from netlink", errno));
    }
    if (from.nl_pid != 0 || mh.msg_namelen != sizeof from) {
      continue;  // not from the kernel
    }
    if ((mh.msg_flags & MSG_TRUNC) != 0) {
      lost = true;
      continue;
    }
    auto datagram = std::span<const std::uint8_t>(buf_.data(), static_cast<std::size_t>(n));
    if (!netlink::parseEvents(datagram, events)) {
      lost = true;
    }
  }
  if (!lost) {
    for (const auto& e : events) {
      lost = lost || e.kind == netlink::EventKind::kResync;
    }
  }
  if (lost) {
    events.assign(1, netlink::NetlinkEvent{});
  }
  return events;
}

}  // namespace vpn::tun
