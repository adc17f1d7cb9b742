#pragma once
// `vpnpeer netcheck`'s port mapping test: asks the router at the IPv4 default gateway to map the
// netcheck socket's port (PCP, then NAT-PMP, then UPnP-IGD: client/portmap, net/upnp), waits
// until it maps or gives up, and deletes the mapping again. Blocking, on the caller's UDP socket,
// for at most `cap` plus one UPnP exchange (about 4.5 s when the router says nothing: three tries
// each of PCP and NAT-PMP, a second of UPnP discovery). Datagrams that are not from the router's
// port 5351 are read and ignored. Never throws; problems end up in the returned status's last_error.
#include <chrono>
#include <cstdint>

#include "client/portmap/port_mapper.hpp"

namespace vpn::client {

PortMapStatus probePortMapping(int fd, const protocol::IpAddress& bound, std::uint16_t port,
                               std::chrono::milliseconds cap);

}  // namespace vpn::client
