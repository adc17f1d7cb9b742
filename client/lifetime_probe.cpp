#include "client/lifetime_probe.hpp"

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "crypto/random.hpp"
#include "net/sockaddr.hpp"

namespace vpn::client {

struct LifetimeProbe::TestSocket {
  int fd = -1;
  std::unique_ptr<net::FdWatcher> watcher;
  ~TestSocket() {
    watcher.reset();  // stop polling before the fd goes
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

LifetimeProbe::LifetimeProbe(uv_loop_s& loop, Send send_main, Wrap seal, Wrap open, Done done)
    : loop_(loop),
      send_main_(std::move(send_main)),
      seal_(std::move(seal)),
      open_(std::move(open)),
      done_(std::move(done)),
      timer_(loop, [this] { pump(Clock::now()); }),
      reaper_(loop, [this] { retired_.clear(); }) {}

LifetimeProbe::~LifetimeProbe() {
  sockets_.clear();
  retired_.clear();
}

void LifetimeProbe::closeSockets() {
  for (auto& s : sockets_) {
    s->watcher->stop();
    retired_.push_back(std::move(s));
  }
  sockets_.clear();
  if (!retired_.empty()) {
    reaper_.armAt(Clock::now());
  }
}

void LifetimeProbe::cancel() {
  measurement_.reset();
  closeSockets();
  timer_.cancel();
  started_ = kNever;
}

void LifetimeProbe::run(netcheck::MappingLifetimeConfig config, const protocol::IpAddress& bind_to) {
  cancel();
  const protocol::Endpoint server = config.server;
  measurement_ = std::make_unique<netcheck::MappingLifetime>(std::move(config), [] {
    protocol::StunTransactionId id{};
    crypto::randomBytes(id);
    return id;
  });
  const bool v6 = server.address().isV6();
  for (std::size_t i = 0; i < measurement_->testSockets(); ++i) {
    auto s = std::make_unique<TestSocket>();
    s->fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    protocol::IpAddress any = *protocol::IpAddress::parse(v6 ? "::" : "0.0.0.0");
    const protocol::IpAddress& at = bind_to.isUnspecified() || bind_to.isV6() != v6 ? any : bind_to;
    socklen_t len = net::toSockaddr(protocol::Endpoint(at, 0), ss, v6);
    if (s->fd < 0 || ::bind(s->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      netcheck::MappingLifetimeResult failed;
      failed.state = netcheck::MappingLifetimeResult::State::kFailed;
      failed.note = std::string("cannot open a test socket: ") + std::strerror(errno);
      cancel();
      done_(failed);
      return;
    }
    s->watcher = net::FdWatcher::create(loop_, s->fd, [this, i] { readSocket(i); });
    sockets_.push_back(std::move(s));
  }
  started_ = Clock::now();
  measurement_->start(started_);
  pump(started_);
}

void LifetimeProbe::readSocket(std::size_t index) {
  std::array<std::uint8_t, 2048> buf{};
  for (int n = 0; n < 16 && measurement_ && index < sockets_.size(); ++n) {
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    ssize_t got = ::recvfrom(sockets_[index]->fd, buf.data(), buf.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), &flen);
    if (got <= 0) {
      break;
    }
    auto src = net::fromSockaddr(from, flen);
    auto bytes = open_(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(got)));
    if (src && !bytes.empty()) {
      measurement_->onDatagram(Clock::now(), index + 1, *src, bytes);
    }
  }
  pump(Clock::now());
}

void LifetimeProbe::onMainDatagram(Instant now, const protocol::Endpoint& from,
                                   std::span<const std::uint8_t> bytes) {
  if (measurement_) {
    measurement_->onDatagram(now, 0, from, bytes);
    pump(now);
  }
}

void LifetimeProbe::pump(Instant now) {
  if (!measurement_) {
    return;
  }
  if (auto at = measurement_->nextDeadline(); at && *at <= now) {
    measurement_->onTimer(now);
  }
  for (auto& out : measurement_->takeOutgoing()) {
    if (out.socket == 0) {
      send_main_(out.to, out.bytes);
      continue;
    }
    if (out.socket > sockets_.size()) {
      continue;
    }
    auto wire = seal_(out.bytes);
    if (wire.empty()) {
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = net::toSockaddr(out.to, ss, out.to.address().isV6());
    (void)::sendto(sockets_[out.socket - 1]->fd, wire.data(), wire.size(), 0,
                   reinterpret_cast<sockaddr*>(&ss), len);
  }
  if (measurement_->done()) {
    auto finished = std::move(measurement_);  // done_ may start a new run
    closeSockets();
    timer_.cancel();
    started_ = kNever;
    done_(finished->result());
    return;
  }
  auto next = measurement_->nextDeadline();
  timer_.armAt(next ? *next : kNever);
}

}  // namespace vpn::client
