#include "tun/netlink_events.hpp"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

#include "tun/netlink_attributes.hpp"

namespace vpn::tun::netlink {
namespace {

using detail::align4;
using detail::attributesAfter;
using detail::forEachAttribute;
using detail::readStruct;
using detail::readU32;

// RTM_NEWADDR / RTM_DELADDR. False if malformed; true with no event for other families.
bool parseAddress(std::uint16_t type, std::span<const std::uint8_t> payload,
                  std::vector<NetlinkEvent>& out) {
  if (payload.size() < sizeof(ifaddrmsg)) {
    return false;
  }
  auto ifa = readStruct<ifaddrmsg>(payload);
  std::size_t addr_len = 0;
  if (ifa.ifa_family == AF_INET) {
    addr_len = 4;
  } else if (ifa.ifa_family == AF_INET6) {
    addr_len = 16;
  } else {
    return true;
  }
  if (ifa.ifa_prefixlen > addr_len * 8) {
    return false;
  }
  std::optional<protocol::IpAddress> local;
  std::optional<protocol::IpAddress> address;
  bool ok = forEachAttribute(attributesAfter(payload, sizeof(ifaddrmsg)),
                             [&](std::uint16_t t, std::span<const std::uint8_t> data) {
                               if (t != IFA_LOCAL && t != IFA_ADDRESS) {
                                 return true;
                               }
                               if (data.size() != addr_len) {
                                 return false;
                               }
                               auto ip = addr_len == 4 ? protocol::IpAddress::v4(data.data())
                                                       : protocol::IpAddress::v6(data.data());
                               (t == IFA_LOCAL ? local : address) = ip;
                               return true;
                             });
  if (!ok || (!local && !address)) {
    return false;
  }
  NetlinkEvent e;
  e.kind = type == RTM_NEWADDR ? EventKind::kAddressAdded : EventKind::kAddressRemoved;
  e.ifindex = static_cast<int>(ifa.ifa_index);
  e.address = protocol::IpPrefix(local ? *local : *address, ifa.ifa_prefixlen);
  out.push_back(e);
  return true;
}

// RTM_NEWROUTE / RTM_DELROUTE.
bool parseRoute(std::span<const std::uint8_t> payload, std::vector<NetlinkEvent>& out) {
  if (payload.size() < sizeof(rtmsg)) {
    return false;
  }
  auto rt = readStruct<rtmsg>(payload);
  NetlinkEvent e;
  e.kind = EventKind::kRouteChanged;
  e.default_route = rt.rtm_dst_len == 0;
  e.table = rt.rtm_table;
  bool ok = forEachAttribute(attributesAfter(payload, sizeof(rtmsg)),
                             [&](std::uint16_t t, std::span<const std::uint8_t> data) {
                               if (t != RTA_OIF && t != RTA_TABLE) {
                                 return true;
                               }
                               auto v = readU32(data);
                               if (!v) {
                                 return false;
                               }
                               if (t == RTA_OIF) {
                                 e.ifindex = static_cast<int>(*v);
                               } else {
                                 e.table = *v;
                               }
                               return true;
                             });
  if (!ok) {
    return false;
  }
  out.push_back(e);
  return true;
}

// RTM_NEWLINK / RTM_DELLINK. Only the fixed header is read.
bool parseLink(std::uint16_t type, std::span<const std::uint8_t> payload,
               std::vector<NetlinkEvent>& out) {
  if (payload.size() < sizeof(ifinfomsg)) {
    return false;
  }
  auto ifi = readStruct<ifinfomsg>(payload);
  NetlinkEvent e;
  e.kind = EventKind::kLinkChanged;
  e.ifindex = ifi.ifi_index;
  e.link_flags = ifi.ifi_flags;
  e.removed = type == RTM_DELLINK;
  out.push_back(e);
  return true;
}

}  // namespace

const char* toString(EventKind kind) {
  switch (kind) {
    case EventKind::kAddressAdded:
      return "address-added";
    case EventKind::kAddressRemoved:
      return "address-removed";
    case EventKind::kRouteChanged:
      return "route-changed";
    case EventKind::kLinkChanged:
      return "link-changed";
    case EventKind::kResync:
      return "resync";
  }
  return "unknown";
}

bool parseEvents(std::span<const std::uint8_t> datagram, std::vector<NetlinkEvent>& out) {
  bool all_ok = true;
  std::size_t pos = 0;
  while (pos < datagram.size()) {
    auto rest = datagram.subspan(pos);
    if (rest.size() < sizeof(nlmsghdr)) {
      return false;
    }
    auto h = readStruct<nlmsghdr>(rest);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > rest.size()) {
      return false;  // nothing after an impossible length can be located
    }
    auto payload = rest.subspan(sizeof(nlmsghdr), h.nlmsg_len - sizeof(nlmsghdr));
    bool ok = true;
    switch (h.nlmsg_type) {
      case RTM_NEWADDR:
      case RTM_DELADDR:
        ok = parseAddress(h.nlmsg_type, payload, out);
        break;
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        ok = parseRoute(payload, out);
        break;
      case RTM_NEWLINK:
      case RTM_DELLINK:
        ok = parseLink(h.nlmsg_type, payload, out);
        break;
      case NLMSG_OVERRUN:
        out.push_back(NetlinkEvent{});
        break;
      default:
        break;  // NLMSG_NOOP, NLMSG_DONE, NLMSG_ERROR, neighbours, rules, ...: not ours
    }
    all_ok = all_ok && ok;
    pos += align4(h.nlmsg_len);  // may step past the end: the last message may be unpadded
  }
  return all_ok;
}

}  // namespace vpn::tun::netlink
