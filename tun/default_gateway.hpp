#pragma once
// The IPv4 default gateway and our address toward it, from the kernel's routing table (rtnetlink
// dumps, no `ip` command): where a PCP or NAT-PMP request for a port mapping goes. Only the main
// table's unicast default routes with a gateway count; the lowest metric wins. Our address is the
// route's preferred source, else the address of the route's interface whose prefix holds the
// gateway, else that interface's first IPv4 address.
//
// chooseDefaultGateway is pure (unit-tested on parsed entries); findDefaultGateway does the two
// dumps and blocks for at most the socket's timeout (start-up and network changes only, never per
// packet). Errors: NetlinkError / TunError from the socket; nullopt when there is no such route.
#include <optional>
#include <vector>

#include "protocol/ip_address.hpp"
#include "tun/netlink_message.hpp"

namespace vpn::tun {

class NetlinkSocket;

struct DefaultGateway {
  protocol::IpAddress gateway;
  protocol::IpAddress local;  // our address on the gateway's link
  int ifindex = 0;
  friend bool operator==(const DefaultGateway&, const DefaultGateway&) = default;
};

std::optional<DefaultGateway> chooseDefaultGateway(
    const std::vector<netlink::RouteEntry>& routes,
    const std::vector<netlink::AddressEntry>& addresses);

std::optional<DefaultGateway> findDefaultGateway(NetlinkSocket& nl);

}  // namespace vpn::tun
