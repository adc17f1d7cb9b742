#include "client/prediction_sockets.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

#include "base/log.hpp"
#include "base/time.hpp"
#include "net/sockaddr.hpp"

namespace vpn::client {

struct PredictionSockets::Socket {
  int fd = -1;
  std::unique_ptr<net::FdWatcher> watcher;
  ~Socket() {
    watcher.reset();  // stop polling before the fd goes
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

PredictionSockets::PredictionSockets(uv_loop_s& loop, OnDatagram on_datagram)
    : loop_(loop),
      on_datagram_(std::move(on_datagram)),
      reaper_(loop, [this] { retired_.clear(); }),
      buf_(65536) {}

PredictionSockets::~PredictionSockets() {
  open_.clear();
  retired_.clear();
}

std::vector<std::uint16_t> PredictionSockets::open(std::size_t count,
                                                   protocol::IpAddress::Family family,
                                                   const protocol::IpAddress& bind_to) {
  std::vector<std::uint16_t> ids;
  const bool v6 = family == protocol::IpAddress::Family::kV6;
  protocol::IpAddress any = *protocol::IpAddress::parse(v6 ? "::" : "0.0.0.0");
  const protocol::IpAddress& at =
      bind_to.isUnspecified() || bind_to.family() != family ? any : bind_to;
  while (ids.size() < count && open_.size() < kMaxOpen && next_id_ != 0) {
    auto s = std::make_unique<Socket>();
    s->fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t len = net::toSockaddr(protocol::Endpoint(at, 0), ss, v6);
    if (s->fd < 0 || ::bind(s->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      if (!warned_) {
        warned_ = true;
        LOG_WARN("port prediction: cannot open a socket (%s); using %zu of %zu",
                 std::strerror(errno), ids.size(), count);
      }
      break;
    }
    // As on the tunnel's socket: DF on every datagram and no kernel PMTU cache, so the path MTU
    // search on a predicted path sees what the path carries (not local fragmentation).
    int probe = v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    (void)::setsockopt(s->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
                       &probe, sizeof probe);
    std::uint16_t id = next_id_++;
    s->watcher = net::FdWatcher::create(loop_, s->fd, [this, id] { read(id); });
    open_[id] = std::move(s);
    ids.push_back(id);
  }
  return ids;
}

void PredictionSockets::close(std::uint16_t local) {
  auto it = open_.find(local);
  if (it == open_.end()) {
    return;
  }
  it->second->watcher->stop();
  retired_.push_back(std::move(it->second));
  open_.erase(it);
  reaper_.armAt(Clock::now());
}

void PredictionSockets::send(std::uint16_t local, const protocol::Endpoint& to,
                             std::span<const std::uint8_t> bytes) {
  auto it = open_.find(local);
  if (it == open_.end()) {
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = net::toSockaddr(to, ss, to.address().isV6());
  (void)::sendto(it->second->fd, bytes.data(), bytes.size(), 0,
                 reinterpret_cast<sockaddr*>(&ss), len);
}

void PredictionSockets::read(std::uint16_t local) {
  // Bounded per wake-up so one busy socket cannot starve the loop; the poll fires again.
  for (int n = 0; n < 64; ++n) {
    auto it = open_.find(local);  // the callback below may have closed it
    if (it == open_.end()) {
      return;
    }
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    ssize_t got = ::recvfrom(it->second->fd, buf_.data(), buf_.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), &flen);
    if (got <= 0) {
      return;
    }
    if (auto src = net::fromSockaddr(from, flen)) {
      on_datagram_(local, *src, std::span<std::uint8_t>(buf_.data(), static_cast<std::size_t>(got)));
    }
  }
}

}  // namespace vpn::client
