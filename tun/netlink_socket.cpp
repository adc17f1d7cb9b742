#include "tun/netlink_socket.hpp"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "tun/netlink_message.hpp"

namespace vpn::tun {
namespace {

constexpr std::size_t kReceiveBuffer = 64 * 1024;

[[noreturn]] void throwKernelError(const netlink::MessageView& msg, int error) {
  int e = -error;
  std::string text = std::strerror(e);
  std::string reason = netlink::parseErrorText(msg);
  if (!reason.empty()) {
    text += " (" + reason + ")";
  }
  throw NetlinkError(e, text);
}

}  // namespace

NetlinkSocket::~NetlinkSocket() = default;

std::unique_ptr<LinuxNetlinkSocket> LinuxNetlinkSocket::open(std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw TunError(std::string("cannot open a netlink socket: ") + std::strerror(errno));
  }
  int one = 1;
  // Best effort: extended acks give better error messages; capped acks keep them short.
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
    int err = errno;
    ::close(fd);
    throw TunError(std::string("cannot bind a netlink socket: ") + std::strerror(err));
  }
  auto s = std::unique_ptr<LinuxNetlinkSocket>(new LinuxNetlinkSocket(fd, timeout));
  s->buf_.resize(kReceiveBuffer);
  // Start from a time-derived sequence so replies meant for a previous process are ignored.
  s->seq_ = static_cast<std::uint32_t>(::time(nullptr));
  return s;
}

LinuxNetlinkSocket::~LinuxNetlinkSocket() { ::close(fd_); }

std::uint32_t LinuxNetlinkSocket::send(std::span<const std::uint8_t> msg) {
  std::vector<std::uint8_t> copy(msg.begin(), msg.end());
  std::uint32_t seq = ++seq_;
  if (!netlink::rewriteSequence(copy, seq)) {
    throw TunError("netlink request is shorter than a netlink header");
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = ::sendto(fd_, copy.data(), copy.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                         sizeof kernel);
    if (n >= 0) {
      return seq;
    }
    if (errno != EINTR) {
      throw TunError(std::string("cannot send a netlink request: ") + std::strerror(errno));
    }
  }
}

std::size_t LinuxNetlinkSocket::receive(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw TunError("the kernel did not answer a netlink request within " +
                     std::to_string(timeout_.count()) + " ms");
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) {
      throw TunError(std::string("cannot wait for netlink: ") + std::strerror(errno));
    }
    if (r <= 0) {
      continue;
    }
    sockaddr_nl from{};
    iovec iov{buf_.data(), buf_.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      throw TunError(std::string("cannot receive from netlink: ") + std::strerror(errno));
    }
    if ((mh.msg_flags & MSG_TRUNC) != 0) {
      throw TunError("a netlink reply was larger than the receive buffer");
    }
    if (from.nl_pid != 0) {
      continue;  // not from the kernel
    }
    return static_cast<std::size_t>(n);
  }
}

void LinuxNetlinkSocket::request(std::span<const std::uint8_t> msg) {
  std::uint32_t seq = send(msg);
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    std::size_t n = receive(deadline);
    auto msgs = netlink::splitMessages(std::span<const std::uint8_t>(buf_.data(), n));
    if (!msgs) {
      throw TunError("the kernel sent a malformed netlink reply");
    }
    for (const auto& m : *msgs) {
      if (m.seq != seq) {
        continue;
      }
      auto error = netlink::parseError(m);
      if (!error) {
        continue;
      }
      if (*error != 0) {
        throwKernelError(m, *error);
      }
      return;
    }
  }
}

std::vector<std::vector<std::uint8_t>> LinuxNetlinkSocket::dump(
    std::span<const std::uint8_t> msg) {
  std::uint32_t seq = send(msg);
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::vector<std::vector<std::uint8_t>> out;
  for (;;) {
    std::size_t n = receive(deadline);
    auto msgs = netlink::splitMessages(std::span<const std::uint8_t>(buf_.data(), n));
    if (!msgs) {
      throw TunError("the kernel sent a malformed netlink reply");
    }
    for (const auto& m : *msgs) {
      if (m.seq != seq) {
        continue;
      }
      if (m.type == NLMSG_DONE) {
        return out;
      }
      if (m.type == NLMSG_ERROR) {
        auto error = netlink::parseError(m);
        if (error && *error != 0) {
          throwKernelError(m, *error);
        }
        continue;
      }
      if ((m.flags & NLM_F_DUMP_INTR) != 0) {
        throw TunError("a netlink dump was interrupted by a concurrent change; retry");
      }
      out.emplace_back(m.whole.begin(), m.whole.end());
    }
  }
}

}  // namespace vpn::tun
