// The peer daemon's two IP families and its port prediction sockets: which underlay addresses
// its one UDP socket can use, and the EngineSink calls that open, close and send from the extra
// sockets port prediction asks for (client/prediction_sockets.hpp, docs/paths.md rules 13, 14).
#include "base/log.hpp"
#include "client/daemon_impl.hpp"

namespace vpn::client {

bool Daemon::Impl::reachable(const protocol::IpAddress& a) const {
  const auto& l = cfg.listen.address();
  if (l.isV4()) {
    return a.isV4();
  }
  return !l.isUnspecified() ? a.isV6() : true;
}

bool Daemon::Impl::usable(const protocol::IpAddress& a) const {
  if (!reachable(a)) {
    return false;
  }
  // A dual-stack socket on a host without an address of a's family (an IPv6-only network) would
  // only send into the void.
  bool any = false;
  for (const auto& c : local_candidates) {
    if (c.address().isRoutableUnicast()) {
      any = true;
      if (c.address().family() == a.family()) {
        return true;
      }
    }
  }
  return !any;
}

std::vector<std::uint16_t> Daemon::Impl::openPredictionSockets(
    std::size_t count, protocol::IpAddress::Family family) {
  if (!prediction || stopping) {
    return {};
  }
  auto ids = prediction->open(count, family, cfg.listen.address());
  if (count > 1) {  // one is a port reading (engine_port_reading.cpp), once per lookup
    LOG_INFO("port prediction: opened %zu sockets to probe from", ids.size());
  }
  return ids;
}

void Daemon::Impl::closePredictionSocket(std::uint16_t local) {
  if (prediction) {
    prediction->close(local);
  }
}

void Daemon::Impl::sendDatagramVia(std::uint16_t local, const protocol::Endpoint& to,
                                   std::span<const std::uint8_t> bytes) {
  if (local == 0) {
    udp->send(to, bytes);
  } else if (prediction) {
    prediction->send(local, to, bytes);
  }
}

}  // namespace vpn::client
