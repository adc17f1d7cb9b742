#include "tun/netlink_events.hpp"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

namespace vpn::tun::netlink {
namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3u) & ~std::size_t{3}; }

// Copies a struct out of the bytes: the buffer may not be aligned for T. Caller checked the size.
template <typename T>
T readStruct(std::span<const std::uint8_t> bytes) {
  T v{};
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

// Calls f(type, data) for each attribute in `attrs`; false if one is shorter than its header or
// runs past the end. The last attribute may omit its alignment padding.
template <typename F>
bool forEachAttribute(std::span<const std::uint8_t> attrs, F&& f) {
  std::size_t pos = 0;
  while (pos < attrs.size()) {
    auto rest = attrs.subspan(pos);
    if (rest.size() < sizeof(rtattr)) {
      return false;
    }
    auto a = readStruct<rtattr>(rest);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > rest.size()) {
      return false;
    }
    if (!f(a.rta_type, rest.subspan(sizeof(rtattr), a.rta_len - sizeof(rtattr)))) {
      return false;
    }
    pos += align4(a.rta_len);
  }
  return true;
}

// Attributes follow the fixed header at its aligned size; a payload that ends inside the
// padding simply has no attributes.
std::span<const std::uint8_t> attributesAfter(std::span<const std::uint8_t> payload,
                                              std::size_t header) {
  std::size_t start = align4(header);
  return start >= payload.size() ? std::span<const std::uint8_t>() : payload.subspan(start);
}

std::optional<std::uint32_t> readU32(std::span<const std::uint8_t> data) {
  if (data.size() != sizeof(std::uint32_t)) {
    return std::nullopt;
  }
  return readStruct<std::uint32_t>(data);
}

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
