#include "client/netcheck_portmap.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "crypto/random.hpp"
#include "net/sockaddr.hpp"
#include "tun/default_gateway.hpp"
#include "tun/netlink_socket.hpp"

namespace vpn::client {

namespace {

struct SocketSink final : PortMapper::Sink {
  explicit SocketSink(int f) : fd(f) {}
  void sendToGateway(const protocol::Endpoint& to, std::span<const std::uint8_t> d) override {
    sockaddr_storage ss{};
    socklen_t len = net::toSockaddr(to, ss);
    (void)::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  }
  void requestUpnp(std::uint16_t, std::uint32_t) override {}
  void onMappingChanged(const std::optional<protocol::Endpoint>&) override {}
  int fd;
};

}  // namespace

PortMapStatus probePortMapping(int fd, const protocol::IpAddress& bound, std::uint16_t port,
                               std::chrono::milliseconds cap) {
  PortMapStatus none;
  std::optional<tun::DefaultGateway> gw;
  try {
    auto nl = tun::LinuxNetlinkSocket::open(std::chrono::milliseconds(1000));
    gw = tun::findDefaultGateway(*nl);
  } catch (const std::exception& e) {
    none.last_error = std::string("cannot read the routing table: ") + e.what();
    return none;
  }
  if (!gw) {
    none.last_error = "no IPv4 default route with a gateway";
    return none;
  }
  if (!bound.isUnspecified() && !(bound == gw->local)) {
    none.gateway = gw->gateway;
    none.last_error = "the rendezvous is not reached through the default gateway";
    return none;
  }
  SocketSink sink(fd);
  PortMapper::Options opts;
  opts.lifetime = 60;  // a test: gone soon even if the deletion is lost
  opts.upnp = false;
  opts.tries = 3;  // 1.75 s per protocol: a diagnostic, not a daemon that can wait
  PortMapper mapper(sink, opts, [] {
    protocol::PcpNonce n{};
    crypto::randomBytes(n);
    return n;
  });
  const auto start = Clock::now();
  mapper.start(start, gw->gateway, gw->local, port);
  std::array<std::uint8_t, 1500> buf{};
  while (mapper.status().state == "searching" && Clock::now() - start < cap) {
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(mapper.nextDeadline() - Clock::now());
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(wait.count(), 0, 1000)));
    if (n > 0) {
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      ssize_t got = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &flen);
      if (got > 0) {
        if (auto src = net::fromSockaddr(from, flen)) {
          (void)mapper.onDatagram(Clock::now(), *src,
                                  std::span<const std::uint8_t>(buf.data(),
                                                                static_cast<std::size_t>(got)));
        }
      }
    }
    mapper.onTimer(Clock::now());
  }
  PortMapStatus result = mapper.status();
  if (result.state == "searching") {
    result.state = "unavailable";
    result.last_error = "no answer within " + std::to_string(cap.count() / 1000) + " s";
  }
  mapper.stop(Clock::now());  // deletes what it mapped
  return result;
}

}  // namespace vpn::client
