// The peer daemon's port mapping edge ([nat] port_mapping): finds the IPv4 default gateway over
// rtnetlink, runs the I/O-free PortMapper on the tunnel's own UDP socket (the router maps the
// source port of a PCP or NAT-PMP request), gives the mapped endpoint to the engine as a
// candidate, searches again when the network changes, and deletes the mapping at shutdown.
// UPnP-IGD, the mapper's last resort, runs on libuv's thread pool (net::UpnpIgd blocks); its
// answers come back to the mapper on the loop thread.
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
  upnp = std::make_shared<net::UpnpIgd>(net::UpnpIgd::Options{});
  upnp_jobs = std::make_unique<net::WorkQueue>(loop);
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
  if (upnp_holds) {
    // A UPnP request was still under way: delete what it may have made. The queue runs this
    // after it, and the loop does not end before both are done.
    port_map_edge.requestUpnp(0, 0);
  }
}

void Daemon::Impl::PortMapEdge::sendToGateway(const protocol::Endpoint& to,
                                              std::span<const std::uint8_t> d) {
  if (daemon.udp) {
    daemon.udp->send(to, d);
  }
}

void Daemon::Impl::PortMapEdge::requestUpnp(std::uint16_t internal_port, std::uint32_t lifetime) {
  auto& d = daemon;
  if (!d.upnp_jobs) {
    return;
  }
  std::shared_ptr<net::UpnpIgd> igd = d.upnp;
  if (lifetime == 0) {
    if (!d.upnp_holds) {
      return;
    }
    d.upnp_holds = false;
    auto error = std::make_shared<std::string>();
    d.upnp_jobs->submit([igd, error] { *error = igd->unmap(); },
                        [error] {
                          if (!error->empty()) {
                            LOG_WARN("port mapping: UPnP: %s", error->c_str());
                          }
                        });
    return;
  }
  auto result = std::make_shared<net::UpnpIgd::Result>();
  std::optional<tun::DefaultGateway> gw = d.gateway;
  d.upnp_holds = true;
  d.upnp_jobs->submit(
      [igd, result, gw, internal_port, lifetime] {
        if (!gw) {
          result->error = "no default gateway";
          return;
        }
        *result = igd->map(gw->gateway, gw->local, internal_port, lifetime);
      },
      [&d, result] {
        if (d.stopping || !d.port_mapper) {
          return;
        }
        d.port_mapper->onUpnpResult(Clock::now(), result->external, result->lifetime,
                                    result->error);
        d.afterPortMapEvent();
      });
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
