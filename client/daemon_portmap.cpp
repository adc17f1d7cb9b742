// The peer daemon's port mapping edge ([nat] port_mapping): finds the IPv4 default gateway over
// rtnetlink, runs the I/O-free PortMapper on the tunnel's own UDP socket (the router maps the
// source port of a PCP or NAT-PMP request), gives the mapped endpoint to the engine as a
// candidate, searches again when the network changes, and deletes the mapping at shutdown.
// UPnP-IGD is not built in yet: the mapper stops after NAT-PMP.
#include <cinttypes>

#include "base/log.hpp"
#include "client/daemon_impl.hpp"
#include "crypto/random.hpp"
#include "tun/netlink_socket.hpp"

namespace vpn::client {

namespace {

std::optional<tun::DefaultGateway> lookUpGateway() {
  try {
    auto nl = tun::LinuxNetlinkSocket::open(std::chrono::milliseconds(1000));
    return tun::findDefaultGateway(*nl);
  } catch (const std::exception& e) {
    LOG_WARN("port mapping: cannot read the routing table (%s)", e.what());
    return std::nullopt;
  }
}

}  // namespace

void Daemon::Impl::startPortMapping() {
  if (!cfg.nat.port_mapping) {
    return;
  }
  PortMapper::Options opts;
  opts.upnp = false;
  port_mapper = std::make_unique<PortMapper>(port_map_edge, opts, [] {
    protocol::PcpNonce n{};
    crypto::randomBytes(n);
    return n;
  });
  port_map_timer = std::make_unique<net::Timer>(loop, [this] {
    if (!stopping && port_mapper) {
      port_mapper->onTimer(Clock::now());
      afterPortMapEvent();
    }
  });
  refreshGateway(false);
}

void Daemon::Impl::refreshGateway(bool network_changed) {
  if (!port_mapper || stopping) {
    return;
  }
  auto found = lookUpGateway();
  if (found == gateway && !network_changed) {
    return;
  }
  bool same = found == gateway;
  gateway = found;
  Instant now = Clock::now();
  if (!gateway) {
    if (!same || !network_changed) {
      LOG_INFO("port mapping: no IPv4 default route with a gateway; nothing to ask");
    }
    port_mapper->stop(now);
    afterPortMapEvent();
    return;
  }
  if (!cfg.listen.address().isUnspecified() && !(cfg.listen.address() == gateway->local)) {
    LOG_INFO("port mapping: listen address %s is not our address toward the gateway %s",
             cfg.listen.address().toString().c_str(), gateway->gateway.toString().c_str());
    port_mapper->stop(now);
    afterPortMapEvent();
    return;
  }
  if (!same) {
    LOG_INFO("port mapping: asking gateway %s for UDP port %u (our address %s)",
             gateway->gateway.toString().c_str(), udp->localEndpoint().port(),
             gateway->local.toString().c_str());
  }
  // The same router after a change of network still gets asked: the mapping may be gone.
  port_mapper->start(now, gateway->gateway, gateway->local, udp->localEndpoint().port());
  afterPortMapEvent();
}

void Daemon::Impl::afterPortMapEvent() {
  if (stopping || !port_mapper) {
    return;
  }
  udp->flush();
  port_map_timer->armAt(port_mapper->nextDeadline());
  const auto& st = port_mapper->status();
  if (st.state == "unavailable" && st.last_error != port_map_logged) {
    LOG_INFO("port mapping: none (%s); trying again in %lld s", st.last_error.c_str(),
             static_cast<long long>(
                 std::chrono::duration_cast<std::chrono::seconds>(st.renew_at - Clock::now())
                     .count()));
  }
  port_map_logged = st.last_error;
}

void Daemon::Impl::stopPortMapping() {
  port_map_timer.reset();
  if (port_mapper) {
    port_mapper->stop(Clock::now());
  }
}

void Daemon::Impl::PortMapEdge::sendToGateway(const protocol::Endpoint& to,
                                              std::span<const std::uint8_t> d) {
  if (daemon.udp) {
    daemon.udp->send(to, d);
  }
}

void Daemon::Impl::PortMapEdge::requestUpnp(std::uint16_t internal_port, std::uint32_t lifetime) {
  (void)internal_port, (void)lifetime;  // not asked: Options::upnp is false (see the top)
}

void Daemon::Impl::PortMapEdge::onMappingChanged(const std::optional<protocol::Endpoint>& ext) {
  if (ext) {
    const auto& st = daemon.port_mapper->status();
    LOG_INFO("port mapping: %s maps %s to our UDP port %u for %lld s", toString(st.protocol),
             ext->toString().c_str(), daemon.udp->localEndpoint().port(),
             static_cast<long long>(
                 std::chrono::duration_cast<std::chrono::seconds>(st.lifetime).count()));
  } else {
    LOG_INFO("port mapping: the mapping is gone");
  }
  if (daemon.engine && !daemon.stopping) {
    daemon.engine->setMappedCandidate(Clock::now(), ext);
  }
}

}  // namespace vpn::client
