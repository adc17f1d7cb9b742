// Real TUN + rtnetlink tests. Each runs in a forked child inside a fresh network (and mount)
// namespace, so nothing touches the host's interfaces. Requires root; skipped otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "tun/interface_config.hpp"
#include "tun/linux_tun_device.hpp"
#include "tun/netlink_socket.hpp"
#include "tests/unit/tun/netns_child.hpp"

namespace vpn::tun {
namespace {

using protocol::IpPrefix;

using test::check;

std::string runInNetns(const std::function<void()>& body) {
  return test::runInNetns(body, /*private_sys=*/true);
}

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool hasPrefix(const std::vector<IpPrefix>& v, const char* text) {
  return std::find(v.begin(), v.end(), *IpPrefix::parse(text)) != v.end();
}

// Sends one UDP datagram to dst:9 and expects to read an IP packet addressed to dst on the TUN.
void expectRoutedToTun(LinuxTunDevice& tun, const char* dst_text) {
  auto dst = *protocol::IpAddress::parse(dst_text);
  int family = dst.isV4() ? AF_INET : AF_INET6;
  int s = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  check(s >= 0, "socket");
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (dst.isV4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(9);
    std::memcpy(&sin->sin_addr, dst.bytes(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(9);
    std::memcpy(&sin6->sin6_addr, dst.bytes(), 16);
    len = sizeof(sockaddr_in6);
  }
  const char payload[] = "hello tun";
  ssize_t sent = ::sendto(s, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&ss), len);
  int send_errno = errno;
  ::close(s);
  check(sent == static_cast<ssize_t>(sizeof payload),
        std::string("sendto ") + dst_text + ": " + std::strerror(send_errno));
  std::array<std::uint8_t, 2048> buf{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    long n = tun.read(buf);
    check(n >= 0, std::string("tun read: ") + std::strerror(errno));
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    auto packet = std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n));
    int version = packet[0] >> 4;
    if (dst.isV4() && version == 4 && packet.size() >= 20 &&
        std::memcmp(packet.data() + 16, dst.bytes(), 4) == 0) {
      return;
    }
    if (dst.isV6() && version == 6 && packet.size() >= 40 &&
        std::memcmp(packet.data() + 24, dst.bytes(), 16) == 0) {
      return;
    }
    // Something else (e.g. IPv6 router solicitation); keep reading.
  }
  throw std::runtime_error(std::string("no packet for ") + dst_text + " arrived on the TUN");
}

TEST(LinuxTun, RejectsBadNameWithoutTouchingTheKernel) {
  try {
    LinuxTunDevice::open("this-name-is-far-too-long");
    FAIL() << "expected TunError";
  } catch (const TunError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid interface name"), std::string::npos);
  }
  EXPECT_THROW(LinuxTunDevice::open(""), TunError);
  EXPECT_THROW(LinuxTunDevice::open("a/b"), TunError);
}

TEST(LinuxTun, ConfigureVerifyAndRemoveInNamespace) {
  REQUIRE_ROOT();
  std::string error = runInNetns([] {
    auto tun = LinuxTunDevice::open("vpntest0");
    check(tun->name() == "vpntest0", "name is " + tun->name());
    check((::fcntl(tun->fd(), F_GETFL) & O_NONBLOCK) != 0, "fd is not O_NONBLOCK");
    check((::fcntl(tun->fd(), F_GETFD) & FD_CLOEXEC) != 0, "fd is not FD_CLOEXEC");
    std::array<std::uint8_t, 64> buf{};
    check(tun->read(buf) == 0, "read on an idle TUN should report 0 (EAGAIN)");

    auto nl = LinuxNetlinkSocket::open();
    const IpPrefix addrs[] = {*IpPrefix::parse("10.42.0.1/24"),
                              *IpPrefix::parse("fd00:42::1/64")};
    configureInterface(*nl, "vpntest0", addrs, 1380);

    auto listed = listAddresses(*nl, "vpntest0");
    check(hasPrefix(listed, "10.42.0.1/24"), "10.42.0.1/24 not found in RTM_GETADDR dump");
    check(hasPrefix(listed, "fd00:42::1/64"), "fd00:42::1/64 not found in RTM_GETADDR dump");
    std::string mtu = readFile("/sys/class/net/vpntest0/mtu");
    check(mtu == "1380", "sysfs mtu is '" + mtu + "'");
    std::string flags = readFile("/sys/class/net/vpntest0/flags");
    check((std::stoul(flags, nullptr, 16) & IFF_UP) != 0, "link is not up: flags " + flags);

    // The kernel installed the prefix routes: traffic to the overlay arrives on the TUN.
    expectRoutedToTun(*tun, "10.42.0.7");
    expectRoutedToTun(*tun, "fd00:42::7");
    // An extra route through the device.
    addRoute(*nl, "vpntest0", *IpPrefix::parse("10.99.0.0/16"));
    expectRoutedToTun(*tun, "10.99.3.4");
    deleteRoute(*nl, "vpntest0", *IpPrefix::parse("10.99.0.0/16"));

    // Adding the same address again fails with a clear sentence.
    try {
      configureInterface(*nl, "vpntest0", std::span<const IpPrefix>(addrs, 1), 1380);
      check(false, "adding a duplicate address did not fail");
    } catch (const TunError& e) {
      std::string want = "cannot add address 10.42.0.1/24 to vpntest0: File exists";
      check(std::string(e.what()).rfind(want, 0) == 0, std::string("message: ") + e.what());
    }

    tun.reset();
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      struct stat st {};
      gone = ::if_nametoindex("vpntest0") == 0 && ::stat("/sys/class/net/vpntest0", &st) != 0;
      if (!gone) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    check(gone, "vpntest0 still exists after closing the fd");
  });
  EXPECT_EQ(error, "");
}

TEST(LinuxTun, SecondOpenOfSameNameIsBusy) {
  REQUIRE_ROOT();
  std::string error = runInNetns([] {
    auto first = LinuxTunDevice::open("vpntest1");
    try {
      auto second = LinuxTunDevice::open("vpntest1");
      check(false, "second open succeeded");
    } catch (const TunError& e) {
      check(std::string(e.what()) ==
                "interface vpntest1 already exists and is in use; pick another [tun] name",
            std::string("message: ") + e.what());
    }
  });
  EXPECT_EQ(error, "");
}

TEST(LinuxTun, TemplateNameAndMissingInterface) {
  REQUIRE_ROOT();
  std::string error = runInNetns([] {
    auto tun = LinuxTunDevice::open("vpnt%d");
    check(tun->name() == "vpnt0", "template gave " + tun->name());
    auto nl = LinuxNetlinkSocket::open();
    try {
      configureInterface(*nl, "nosuchif0", {}, 1400);
      check(false, "configuring a missing interface succeeded");
    } catch (const TunError& e) {
      check(std::string(e.what()) == "no network interface named nosuchif0", e.what());
    }
  });
  EXPECT_EQ(error, "");
}

}  // namespace
}  // namespace vpn::tun
