#include "client/netcheck_portmap.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "crypto/random.hpp"
#include "net/sockaddr.hpp"
#include "net/upnp/upnp_igd.hpp"
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
  // Run by serveUpnp() once the mapper has returned: answering from inside the call would
  // re-enter it.
  void requestUpnp(std::uint16_t port, std::uint32_t lifetime) override {
    upnp_request = std::make_pair(port, lifetime);
  }
  void onMappingChanged(const std::optional<protocol::Endpoint>&) override {}
  int fd;
  std::optional<std::pair<std::uint16_t, std::uint32_t>> upnp_request;
};

// Blocking: discovery waits up to a second, and the SOAP calls follow.
void serveUpnp(SocketSink& sink, net::UpnpIgd& igd, PortMapper& mapper,
               const tun::DefaultGateway& gw) {
  while (sink.upnp_request) {
    auto [port, lifetime] = *sink.upnp_request;
    sink.upnp_request.reset();
    if (lifetime == 0) {
      (void)igd.unmap();
      continue;
    }
    auto r = igd.map(gw.gateway, gw.local, port, lifetime);
    mapper.onUpnpResult(Clock::now(), r.external, r.lifetime, r.error);
  }
}

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
  opts.tries = 3;  // 1.75 s per protocol: a diagnostic, not a daemon that can wait
  PortMapper mapper(sink, opts, [] {
    protocol::PcpNonce n{};
    crypto::randomBytes(n);
    return n;
  });
  net::UpnpIgd igd(net::UpnpIgd::Options{std::chrono::milliseconds(1000), "vpnpeer netcheck"});
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
    serveUpnp(sink, igd, mapper, *gw);
  }
  PortMapStatus result = mapper.status();
  if (result.state == "searching") {
    result.state = "unavailable";
    result.last_error = "no answer within " + std::to_string(cap.count() / 1000) + " s";
  }
  mapper.stop(Clock::now());  // deletes what it mapped
  serveUpnp(sink, igd, mapper, *gw);
  return result;
}

}  // namespace vpn::client
