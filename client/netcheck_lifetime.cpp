#include "client/netcheck_lifetime.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "crypto/random.hpp"
#include "net/sockaddr.hpp"
#include "protocol/sealed_packet.hpp"

namespace vpn::client {

namespace {

struct Socket {
  int fd = -1;
  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

}  // namespace

netcheck::MappingLifetimeResult probeMappingLifetime(int sender_fd,
                                                     const protocol::Endpoint& server,
                                                     const protocol::IpAddress& sender_public,
                                                     session::OuterSeal* seal) {
  using Clock = std::chrono::steady_clock;
  netcheck::MappingLifetimeConfig cfg;
  cfg.server = server;
  cfg.sender_public = sender_public;
  cfg.software = "vpnpeer netcheck";
  netcheck::MappingLifetime m(cfg, [] {
    protocol::StunTransactionId id{};
    crypto::randomBytes(id);
    return id;
  });
  netcheck::MappingLifetimeResult failed;
  failed.state = netcheck::MappingLifetimeResult::State::kFailed;
  // The test sockets bind where the sender is bound (same local address, any port).
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (::getsockname(sender_fd, reinterpret_cast<sockaddr*>(&bound), &blen) != 0) {
    failed.note = std::string("cannot read the socket's address: ") + std::strerror(errno);
    return failed;
  }
  std::vector<Socket> sockets(m.testSockets());
  for (auto& s : sockets) {
    sockaddr_storage at = bound;
    if (at.ss_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&at)->sin_port = 0;
    } else {
      reinterpret_cast<sockaddr_in6*>(&at)->sin6_port = 0;
    }
    s.fd = ::socket(bound.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&at), blen) != 0) {
      failed.note = std::string("cannot open a test socket: ") + std::strerror(errno);
      return failed;
    }
  }
  auto fdOf = [&](std::size_t socket) { return socket == 0 ? sender_fd : sockets[socket - 1].fd; };
  const auto start = Clock::now();
  const auto cap = start + cfg.idle.back() + std::chrono::seconds(30);
  m.start(start);
  std::array<std::uint8_t, 2048> buf{};
  std::array<std::uint8_t, protocol::kMaxSealedPacket> sealed{};
  while (!m.done() && Clock::now() < cap) {
    for (const auto& out : m.takeOutgoing()) {
      std::span<const std::uint8_t> wire(out.bytes);
      if (seal != nullptr) {
        wire = std::span<const std::uint8_t>(sealed.data(), seal->seal(wire, sealed));
      }
      sockaddr_storage ss{};
      socklen_t len = net::toSockaddr(out.to, ss, bound.ss_family == AF_INET6);
      if (!wire.empty()) {
        (void)::sendto(fdOf(out.socket), wire.data(), wire.size(), 0,
                       reinterpret_cast<sockaddr*>(&ss), len);
      }
    }
    auto now = Clock::now();
    auto next = m.nextDeadline();
    int wait_ms = 1000;
    if (next) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
      wait_ms = static_cast<int>(std::clamp<long long>(ms, 0, 1000));
    }
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i <= sockets.size(); ++i) {
      fds.push_back({fdOf(i), POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), wait_ms) > 0) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & POLLIN) == 0) {
          continue;
        }
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t got = ::recvfrom(fds[i].fd, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &flen);
        if (got <= 0) {
          continue;
        }
        std::span<std::uint8_t> in(buf.data(), static_cast<std::size_t>(got));
        if (seal != nullptr) {
          in = seal->open(in);
        }
        if (auto src = net::fromSockaddr(from, flen); src && !in.empty()) {
          m.onDatagram(Clock::now(), i, *src, in);
        }
      }
    }
    m.onTimer(Clock::now());
  }
  if (!m.done()) {
    failed.note = "no result within the time allowed";
    return failed;
  }
  return m.result();
}

}  // namespace vpn::client
