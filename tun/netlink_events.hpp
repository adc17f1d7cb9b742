#pragma once
// Pure parser for rtnetlink notifications: the datagrams a NETLINK_ROUTE socket subscribed to the
// address, route and link groups receives (see netlink_monitor.hpp). No sockets, no syscalls, no
// global state; thread-safe.
//
// Input is untrusted: every length is checked against the bytes actually present (the NLMSG_OK /
// RTA_OK checks, written on spans), nothing outside the span is read, and nothing is trusted to be
// aligned. Message types other than the ones below are skipped. A message of a known type that is
// too short or has an attribute running past its end yields no event; a header whose length is
// impossible ends the walk, since nothing after it can be located. Either way parseEvents()
// reports that part of the datagram was unusable, so the caller can resynchronise.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/ip_address.hpp"

namespace vpn::tun::netlink {

enum class EventKind : std::uint8_t {
  kAddressAdded,    // RTM_NEWADDR
  kAddressRemoved,  // RTM_DELADDR
  kRouteChanged,    // RTM_NEWROUTE or RTM_DELROUTE
  kLinkChanged,     // RTM_NEWLINK or RTM_DELLINK
  kResync,          // events were lost (overrun, truncation): re-read all state
};

const char* toString(EventKind kind);  // "address-added", ..., "resync"

struct NetlinkEvent {
  EventKind kind = EventKind::kResync;
  int ifindex = 0;  // the interface concerned; for routes RTA_OIF, 0 when the route has none
  // Address events: the local address (IFA_LOCAL, else IFA_ADDRESS) with its prefix length.
  std::optional<protocol::IpPrefix> address;
  // Route events: a default route (destination length 0), and the routing table (RTA_TABLE when
  // present, else rtm_table), so callers can ignore e.g. the local table's per-address routes.
  bool default_route = false;
  std::uint32_t table = 0;
  // Link events: ifi_flags (IFF_UP, IFF_RUNNING, ...); removed is true for RTM_DELLINK.
  std::uint32_t link_flags = 0;
  bool removed = false;

  friend bool operator==(const NetlinkEvent&, const NetlinkEvent&) = default;
};

// Appends the events found in one received datagram to `out`, in order. Returns true if every
// byte was accounted for, false if a message was malformed or the datagram was cut short (the
// events before the problem are still appended). An NLMSG_OVERRUN message appends kResync.
bool parseEvents(std::span<const std::uint8_t> datagram, std::vector<NetlinkEvent>& out);

}  // namespace vpn::tun::netlink
