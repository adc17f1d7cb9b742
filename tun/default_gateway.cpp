#include "tun/default_gateway.hpp"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "tun/netlink_socket.hpp"

namespace vpn::tun {

namespace {
constexpr std::uint32_t kSeq = 0x6777;  // replaced by the socket's own sequence number
}

std::optional<DefaultGateway> chooseDefaultGateway(
    const std::vector<netlink::RouteEntry>& routes,
    const std::vector<netlink::AddressEntry>& addresses) {
  const netlink::RouteEntry* best = nullptr;
  for (const auto& r : routes) {
    if (r.family != AF_INET || r.dst_len != 0 || r.table != RT_TABLE_MAIN ||
        r.type != RTN_UNICAST || !r.gateway || !r.gateway->isV4() || r.ifindex == 0) {
      continue;
    }
    if (best == nullptr || r.priority < best->priority) {
      best = &r;
    }
  }
  if (best == nullptr) {
    return std::nullopt;
  }
  std::optional<protocol::IpAddress> local = best->prefsrc;
  for (const auto& a : addresses) {
    if (local) {
      break;
    }
    if (a.ifindex == best->ifindex && a.prefix.address().isV4() &&
        a.prefix.contains(*best->gateway)) {
      local = a.prefix.address();
    }
  }
  for (const auto& a : addresses) {
    if (local) {
      break;
    }
    if (a.ifindex == best->ifindex && a.prefix.address().isV4()) {
      local = a.prefix.address();
    }
  }
  if (!local) {
    return std::nullopt;
  }
  return DefaultGateway{*best->gateway, *local, best->ifindex};
}

std::optional<DefaultGateway> findDefaultGateway(NetlinkSocket& nl) {
  std::vector<netlink::RouteEntry> routes;
  for (const auto& msg : nl.dump(netlink::buildGetRouteDump(kSeq, AF_INET))) {
    if (auto r = netlink::parseRoute(msg)) {
      routes.push_back(*r);
    }
  }
  std::vector<netlink::AddressEntry> addresses;
  for (const auto& msg : nl.dump(netlink::buildGetAddressDump(kSeq, AF_INET))) {
    if (auto a = netlink::parseAddress(msg)) {
      addresses.push_back(*a);
    }
  }
  return chooseDefaultGateway(routes, addresses);
}

}  // namespace vpn::tun
