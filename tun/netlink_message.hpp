#pragma once
// Pure rtnetlink message builder and parser: no sockets, no syscalls, no global state.
//
// Builders return one complete netlink message (nlmsghdr + body + attributes, 4-byte aligned) in
// host byte order for header fields and network byte order for addresses, exactly as the kernel
// expects. Requests that change state carry NLM_F_REQUEST | NLM_F_ACK so the kernel always answers
// with an NLMSG_ERROR ack (error 0 on success). The sequence number is chosen by the caller; a
// NetlinkSocket may overwrite it (see rewriteSequence).
//
// Parsers take untrusted bytes and are bounds-checked: they never read outside the given span and
// reject truncated or inconsistent lengths with std::nullopt / an empty result.
// Thread-safe (stateless functions). Allocation is fine here: this is the start-up path.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/ip_address.hpp"

namespace vpn::tun::netlink {

using Message = std::vector<std::uint8_t>;

// RTM_NEWLINK on an existing link: sets the MTU (if mtu > 0) and sets IFF_UP (up=true) or clears
// it (up=false).
Message buildSetLink(std::uint32_t seq, int ifindex, int mtu, bool up);

// RTM_NEWADDR (NLM_F_CREATE | NLM_F_EXCL): prefix.address() with prefix.length() on ifindex. The
// kernel installs the connected prefix route itself. IPv6 addresses are added with IFA_F_NODAD.
Message buildNewAddress(std::uint32_t seq, int ifindex, const protocol::IpPrefix& prefix);
// RTM_DELADDR for the same address.
Message buildDelAddress(std::uint32_t seq, int ifindex, const protocol::IpPrefix& prefix);

// RTM_NEWROUTE (NLM_F_CREATE | NLM_F_EXCL) in the main table: destination prefix (host bits are
// cleared) out of ifindex, scope link, no gateway, protocol RTPROT_BOOT (what `ip route add`
// uses).
Message buildNewRoute(std::uint32_t seq, int ifindex, const protocol::IpPrefix& destination);
// RTM_DELROUTE for the same route.
Message buildDelRoute(std::uint32_t seq, int ifindex, const protocol::IpPrefix& destination);

// RTM_GETADDR with NLM_F_DUMP for all addresses of the given family (AF_UNSPEC = both).
Message buildGetAddressDump(std::uint32_t seq, std::uint8_t family);

// RTM_GETROUTE with NLM_F_DUMP for every route of the given family, all tables.
Message buildGetRouteDump(std::uint32_t seq, std::uint8_t family);

// Overwrites nlmsg_seq of the first message; false if msg is shorter than a header.
bool rewriteSequence(std::span<std::uint8_t> msg, std::uint32_t seq);

// One netlink message inside a received buffer; payload excludes the 16-byte header and is
// bounded by nlmsg_len. Views point into the buffer passed to splitMessages.
struct MessageView {
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t seq = 0;
  std::uint32_t pid = 0;
  std::span<const std::uint8_t> whole;    // header + payload
  std::span<const std::uint8_t> payload;  // after the header
};

// Splits a received datagram into messages. nullopt if any length is inconsistent (shorter than a
// header, or running past the end of the buffer).
std::optional<std::vector<MessageView>> splitMessages(std::span<const std::uint8_t> datagram);

// For an NLMSG_ERROR message: the error field (0 = ack/success, otherwise a negative errno).
// nullopt if the message is not NLMSG_ERROR or its payload is too short.
std::optional<int> parseError(const MessageView& msg);
// For an NLMSG_ERROR message carrying extended-ack TLVs (NLM_F_ACK_TLVS, requested with
// NETLINK_EXT_ACK): the kernel's human-readable reason, or empty if there is none.
std::string parseErrorText(const MessageView& msg);

// One address from an RTM_NEWADDR message (a dump reply or a notification).
struct AddressEntry {
  int ifindex = 0;
  protocol::IpPrefix prefix;  // the local address (IFA_LOCAL, else IFA_ADDRESS) with prefixlen
};
std::optional<AddressEntry> parseAddress(const MessageView& msg);
// Convenience for a single complete message, e.g. one element of NetlinkSocket::dump().
std::optional<AddressEntry> parseAddress(std::span<const std::uint8_t> message);

// One route from an RTM_NEWROUTE message (a dump reply).
struct RouteEntry {
  std::uint8_t family = 0;   // AF_INET or AF_INET6
  std::uint8_t dst_len = 0;  // 0: a default route
  std::uint8_t type = 0;     // RTN_UNICAST, ...
  std::uint32_t table = 0;   // RTA_TABLE, else rtm_table
  int ifindex = 0;           // RTA_OIF, 0 without
  std::uint32_t priority = 0;  // RTA_PRIORITY (the metric), 0 without
  std::optional<protocol::IpAddress> gateway;  // RTA_GATEWAY
  std::optional<protocol::IpAddress> prefsrc;  // RTA_PREFSRC
};
// nullopt for other message types, other families or a malformed message.
std::optional<RouteEntry> parseRoute(const MessageView& msg);
std::optional<RouteEntry> parseRoute(std::span<const std::uint8_t> message);

}  // namespace vpn::tun::netlink
