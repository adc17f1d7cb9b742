#include "tun/linux_tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tun/vnet_header.hpp"

namespace vpn::tun {
namespace {

constexpr const char* kTunPath = "/dev/net/tun";

bool validName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') {
      return false;
    }
  }
  return true;
}

[[noreturn]] void throwOpenError(int err) {
  if (err == EACCES || err == EPERM) {
    throw TunError(
        "cannot open /dev/net/tun: permission denied; run vpnpeer as root or give it "
        "CAP_NET_ADMIN (setcap cap_net_admin+ep /usr/bin/vpnpeer)");
  }
  if (err == ENOENT || err == ENODEV || err == ENXIO) {
    throw TunError(
        "cannot open /dev/net/tun: the TUN driver is not available; load it with 'modprobe tun' "
        "(in a container, pass the device in, e.g. --device /dev/net/tun)");
  }
  throw TunError(std::string("cannot open /dev/net/tun: ") + std::strerror(err));
}

[[noreturn]] void throwSetIfError(int err, const std::string& name) {
  if (err == EBUSY) {
    throw TunError("interface " + name +
                   " already exists and is in use; pick another [tun] name");
  }
  if (err == EPERM || err == EACCES) {
    throw TunError("cannot create interface " + name +
                   ": permission denied; run vpnpeer as root or give it CAP_NET_ADMIN "
                   "(setcap cap_net_admin+ep /usr/bin/vpnpeer)");
  }
  if (err == EINVAL) {
    throw TunError("cannot create interface " + name +
                   ": the name exists as a non-TUN interface or is not valid; pick another "
                   "[tun] name");
  }
  throw TunError("cannot create interface " + name + ": " + std::strerror(err));
}

}  // namespace

std::unique_ptr<LinuxTunDevice> LinuxTunDevice::open(const std::string& name) {
  return open(name, Options{});
}

std::unique_ptr<LinuxTunDevice> LinuxTunDevice::open(const std::string& name,
                                                     const Options& options) {
  if (!validName(name)) {
    throw TunError("invalid interface name '" + name + "': use 1 to " +
                   std::to_string(IFNAMSIZ - 1) +
                   " characters without '/', ':' or whitespace, e.g. vpn0");
  }
  int fd = ::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throwOpenError(errno);
  }
  struct ifreq ifr {};
  short flags = IFF_TUN | IFF_NO_PI;
  if (options.vnet_hdr) {
    flags = static_cast<short>(flags | IFF_VNET_HDR);
  }
  if (options.multi_queue) {
    flags = static_cast<short>(flags | IFF_MULTI_QUEUE);
  }
  ifr.ifr_flags = flags;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    throwSetIfError(err, name);
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  std::string actual(ifr.ifr_name);
  return std::unique_ptr<LinuxTunDevice>(
      new LinuxTunDevice(fd, std::move(actual), options.vnet_hdr));
}

LinuxTunDevice::~LinuxTunDevice() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

long LinuxTunDevice::read(std::span<std::uint8_t> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) {
      return static_cast<long>(n);
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    }
    return -1;
  }
}

bool LinuxTunDevice::write(std::span<const std::uint8_t> packet) {
  if (vnet_hdr_) {
    static constexpr std::uint8_t kEmpty[kVnetHeaderSize] = {};
    return writeWithHeader(kEmpty, packet);
  }
  for (;;) {
    ssize_t n = ::write(fd_, packet.data(), packet.size());
    if (n >= 0) {
      return true;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

long LinuxTunDevice::readScattered(std::span<std::uint8_t> header, std::span<std::uint8_t> first,
                                   std::span<std::uint8_t> rest) {
  iovec iov[3] = {{header.data(), header.size()},
                  {first.data(), first.size()},
                  {rest.data(), rest.size()}};
  for (;;) {
    ssize_t n = ::readv(fd_, iov, 3);
    if (n >= 0) {
      return static_cast<long>(n);
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

bool LinuxTunDevice::writeWithHeader(std::span<const std::uint8_t> header,
                                     std::span<const std::uint8_t> packet) {
  iovec iov[2] = {{const_cast<std::uint8_t*>(header.data()), header.size()},
                  {const_cast<std::uint8_t*>(packet.data()), packet.size()}};
  for (;;) {
    ssize_t n = ::writev(fd_, iov, 2);
    if (n >= 0) {
      return true;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

bool LinuxTunDevice::setOffload(unsigned flags) {
  return ::ioctl(fd_, TUNSETOFFLOAD, flags) == 0;
}

}  // namespace vpn::tun
