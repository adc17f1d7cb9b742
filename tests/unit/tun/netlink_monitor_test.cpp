// NetlinkMonitor against the real kernel. The first tests are unprivileged; the root ones change
// interfaces only inside a fresh network namespace in a forked child (netns_child.hpp).
#include "tun/netlink_monitor.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>

#include "tests/unit/tun/netns_child.hpp"
#include "tun/netlink_message.hpp"
#include "tun/netlink_socket.hpp"

namespace vpn::tun {
namespace {

using netlink::EventKind;
using netlink::NetlinkEvent;
using protocol::IpPrefix;
using test::check;

std::string describe(const std::vector<NetlinkEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::string(out.empty() ? "" : ", ") + netlink::toString(e.kind) + " if" +
           std::to_string(e.ifindex) + (e.address ? " " + e.address->toString() : "");
  }
  return "[" + out + "]";
}

// True once an event matching `want` has been read: `seen` holds every event read so far (also
// from earlier calls); more are read for up to 3 s.
bool waitFor(NetlinkMonitor& m, std::vector<NetlinkEvent>& seen,
             const std::function<bool(const NetlinkEvent&)>& want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    if (std::any_of(seen.begin(), seen.end(), want)) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    pollfd p{m.fd(), POLLIN, 0};
    (void)::poll(&p, 1, 100);
    auto r = m.readEvents();
    check(r.ok(), r.ok() ? "" : "readEvents: " + r.error());
    seen.insert(seen.end(), r->begin(), r->end());
  }
}

TEST(NetlinkMonitor, OpensNonBlockingAndReadsWithoutBlocking) {
  auto m = NetlinkMonitor::open();
  ASSERT_TRUE(m.ok()) << m.error();
  int fd = m->fd();
  ASSERT_GE(fd, 0);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  sockaddr_nl local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
  EXPECT_EQ(local.nl_groups, static_cast<std::uint32_t>(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                                                        RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE |
                                                        RTMGRP_LINK));
  // Returns at once whether or not the host changed something meanwhile.
  auto start = std::chrono::steady_clock::now();
  auto r = m->readEvents();
  EXPECT_TRUE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(NetlinkMonitor, MoveTransfersTheSocket) {
  auto m = NetlinkMonitor::open();
  ASSERT_TRUE(m.ok()) << m.error();
  int fd = m->fd();
  NetlinkMonitor moved = std::move(*m);
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_EQ(m->fd(), -1);
  EXPECT_NE(::fcntl(fd, F_GETFD), -1);  // still open
}

TEST(NetlinkMonitor, IgnoresDatagramsNotFromTheKernel) {
  REQUIRE_ROOT();  // unicast between user netlink sockets needs CAP_NET_ADMIN
  std::string error = test::runInNetns([] {
    auto m = NetlinkMonitor::open();
    check(m.ok(), m.ok() ? "" : m.error());
    sockaddr_nl target{};
    socklen_t len = sizeof target;
    check(::getsockname(m->fd(), reinterpret_cast<sockaddr*>(&target), &len) == 0, "getsockname");
    check(target.nl_pid != 0, "no port id");
    // A privileged process could send a fake "address added" (or garbage) straight to our port.
    int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    check(s >= 0, "socket");
    auto fake = netlink::buildNewAddress(0, 1, *IpPrefix::parse("192.0.2.1/24"));
    target.nl_groups = 0;
    ssize_t sent = ::sendto(s, fake.data(), fake.size(), 0,
                            reinterpret_cast<sockaddr*>(&target), sizeof target);
    int send_errno = errno;
    const std::uint8_t garbage[] = {1, 2, 3};
    (void)::sendto(s, garbage, sizeof garbage, 0, reinterpret_cast<sockaddr*>(&target),
                   sizeof target);
    ::close(s);
    check(sent == static_cast<ssize_t>(fake.size()),
          std::string("sendto: ") + std::strerror(send_errno));
    pollfd p{m->fd(), POLLIN, 0};
    check(::poll(&p, 1, 1000) == 1, "the fake datagram did not arrive");
    auto r = m->readEvents();
    check(r.ok(), r.ok() ? "" : r.error());
    check(r->empty(), "events from a user socket were accepted: " + describe(*r));
    check(::poll(&p, 1, 0) == 0, "the socket was not drained");
  });
  EXPECT_EQ(error, "");
}

TEST(NetlinkMonitor, SeesAddressRouteAndLinkChangesInNamespace) {
  REQUIRE_ROOT();
  std::string error = test::runInNetns([] {
    auto m = NetlinkMonitor::open();
    check(m.ok(), m.ok() ? "" : m.error());
    auto nl = LinuxNetlinkSocket::open();
    int lo = static_cast<int>(::if_nametoindex("lo"));
    check(lo > 0, "no lo in the new namespace");
    std::vector<NetlinkEvent> seen;

    nl->request(netlink::buildSetLink(0, lo, 0, true));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kLinkChanged && e.ifindex == lo &&
                           (e.link_flags & IFF_UP) != 0 && !e.removed;
                  }),
          "no link-changed (up) event for lo: " + describe(seen));

    auto addr = *IpPrefix::parse("10.77.0.1/24");
    nl->request(netlink::buildNewAddress(0, lo, addr));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kAddressAdded && e.ifindex == lo &&
                           e.address == addr;
                  }),
          "no address-added 10.77.0.1/24 on lo: " + describe(seen));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kRouteChanged && e.ifindex == lo;
                  }),
          "no route-changed for the address' routes: " + describe(seen));

    auto v6 = *IpPrefix::parse("fd00:77::1/64");
    nl->request(netlink::buildNewAddress(0, lo, v6));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kAddressAdded && e.address == v6;
                  }),
          "no address-added fd00:77::1/64: " + describe(seen));

    nl->request(netlink::buildNewRoute(0, lo, *IpPrefix::parse("0.0.0.0/0")));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kRouteChanged && e.default_route &&
                           e.table == RT_TABLE_MAIN && e.ifindex == lo;
                  }),
          "no route-changed for the new default route: " + describe(seen));

    nl->request(netlink::buildDelAddress(0, lo, addr));
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kAddressRemoved && e.address == addr;
                  }),
          "no address-removed 10.77.0.1/24: " + describe(seen));
    for (const auto& e : seen) {
      check(e.kind != EventKind::kResync, "unexpected resync: " + describe(seen));
    }
  });
  EXPECT_EQ(error, "");
}

TEST(NetlinkMonitor, OverrunBecomesOneResyncAndTheSocketKeepsWorking) {
  REQUIRE_ROOT();
  std::string error = test::runInNetns([] {
    // A queue for about a dozen notifications: one address change (3 or 4) fits, 200 do not.
    auto m = NetlinkMonitor::open(/*receive_buffer=*/8192);
    check(m.ok(), m.ok() ? "" : m.error());
    auto nl = LinuxNetlinkSocket::open();
    int lo = static_cast<int>(::if_nametoindex("lo"));
    nl->request(netlink::buildSetLink(0, lo, 0, true));
    // Far more notifications than the queue holds, none read yet.
    for (int i = 1; i <= 200; ++i) {
      std::string text = "10.78." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) +
                         "/32";
      nl->request(netlink::buildNewAddress(0, lo, *IpPrefix::parse(text)));
    }
    auto r = m->readEvents();
    check(r.ok(), r.ok() ? "" : r.error());
    check(r->size() == 1 && r->front().kind == EventKind::kResync,
          "expected exactly one resync after an overrun, got " + describe(*r));
    auto again = m->readEvents();
    check(again.ok() && again->empty(), "the queue was not drained: " + describe(*again));

    auto addr = *IpPrefix::parse("10.79.0.1/24");
    nl->request(netlink::buildNewAddress(0, lo, addr));
    std::vector<NetlinkEvent> seen;
    check(waitFor(*m, seen,
                  [&](const NetlinkEvent& e) {
                    return e.kind == EventKind::kAddressAdded && e.address == addr;
                  }),
          "no event after the overrun: " + describe(seen));
  });
  EXPECT_EQ(error, "");
}

}  // namespace
}  // namespace vpn::tun
