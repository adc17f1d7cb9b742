// parseEvents on hand-built notification datagrams: each kind, several per datagram, unknown
// types, and every way lengths can lie (truncation at each byte, bad header and attribute
// lengths, random bytes).
#include "tun/netlink_events.hpp"

#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>

#include "tun/netlink_message.hpp"

namespace vpn::tun::netlink {
namespace {

using Bytes = std::vector<std::uint8_t>;

protocol::IpPrefix prefix(const char* text) { return *protocol::IpPrefix::parse(text); }

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// Hand-built message: header with the given type and body, nlmsg_len = 16 + body size, padded
// to 4 bytes as messages are inside a datagram.
Bytes message(std::uint16_t type, const Bytes& body) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + body.size());
  h.nlmsg_type = type;
  Bytes out(sizeof h);
  std::memcpy(out.data(), &h, sizeof h);
  out.insert(out.end(), body.begin(), body.end());
  out.resize((out.size() + 3) & ~std::size_t{3}, 0);
  return out;
}

template <typename T>
Bytes bytesOf(const T& v) {
  Bytes out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

Bytes attribute(std::uint16_t type, const Bytes& data) {
  rtattr a{};
  a.rta_len = static_cast<unsigned short>(sizeof a + data.size());
  a.rta_type = type;
  Bytes out = concat({bytesOf(a), data});
  out.resize((out.size() + 3) & ~std::size_t{3}, 0);
  return out;
}

Bytes u32(std::uint32_t v) { return bytesOf(v); }

// A default route in `table` out of `oif` (RTA_TABLE carries the table, as the kernel sends it).
Bytes defaultRoute(std::uint16_t type, std::uint32_t table, std::uint32_t oif) {
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = 0;
  rt.rtm_table = static_cast<std::uint8_t>(table < 256 ? table : std::uint32_t{RT_TABLE_COMPAT});
  rt.rtm_type = RTN_UNICAST;
  Bytes gw = {192, 0, 2, 1};
  return message(type, concat({bytesOf(rt), attribute(RTA_TABLE, u32(table)),
                               attribute(RTA_GATEWAY, gw), attribute(RTA_OIF, u32(oif))}));
}

Bytes link(std::uint16_t type, int ifindex, unsigned flags) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = flags;
  return message(type, concat({bytesOf(ifi), attribute(IFLA_IFNAME, {'e', 't', 'h', '0', 0})}));
}

NetlinkEvent addressEvent(EventKind kind, int ifindex, const char* p) {
  NetlinkEvent e;
  e.kind = kind;
  e.ifindex = ifindex;
  e.address = prefix(p);
  return e;
}

NetlinkEvent routeEvent(int ifindex, bool default_route, std::uint32_t table) {
  NetlinkEvent e;
  e.kind = EventKind::kRouteChanged;
  e.ifindex = ifindex;
  e.default_route = default_route;
  e.table = table;
  return e;
}

NetlinkEvent linkEvent(int ifindex, std::uint32_t flags, bool removed) {
  NetlinkEvent e;
  e.kind = EventKind::kLinkChanged;
  e.ifindex = ifindex;
  e.link_flags = flags;
  e.removed = removed;
  return e;
}

std::vector<NetlinkEvent> parseAll(const Bytes& datagram, bool expect_ok = true) {
  std::vector<NetlinkEvent> out;
  EXPECT_EQ(parseEvents(datagram, out), expect_ok);
  return out;
}

TEST(NetlinkEvents, AddressAddedAndRemoved) {
  // The builder's RTM_NEWADDR/RTM_DELADDR have the same layout as the kernel's notifications.
  EXPECT_EQ(parseAll(buildNewAddress(0, 3, prefix("192.0.2.10/24"))),
            (std::vector{addressEvent(EventKind::kAddressAdded, 3, "192.0.2.10/24")}));
  EXPECT_EQ(parseAll(buildDelAddress(0, 4, prefix("2001:db8::5/64"))),
            (std::vector{addressEvent(EventKind::kAddressRemoved, 4, "2001:db8::5/64")}));
}

TEST(NetlinkEvents, AddressPrefersLocalOverPeerAddress) {
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = 32;
  ifa.ifa_index = 9;
  // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours, in either order.
  Bytes m = message(RTM_NEWADDR, concat({bytesOf(ifa), attribute(IFA_ADDRESS, {10, 0, 0, 2}),
                                         attribute(IFA_LABEL, {'p', 'p', 'p', '0', 0}),
                                         attribute(IFA_LOCAL, {10, 0, 0, 1})}));
  EXPECT_EQ(parseAll(m), (std::vector{addressEvent(EventKind::kAddressAdded, 9, "10.0.0.1/32")}));
  Bytes only_address =
      message(RTM_NEWADDR, concat({bytesOf(ifa), attribute(IFA_ADDRESS, {10, 0, 0, 2})}));
  EXPECT_EQ(parseAll(only_address),
            (std::vector{addressEvent(EventKind::kAddressAdded, 9, "10.0.0.2/32")}));
}

TEST(NetlinkEvents, RoutesCarryOifTableAndDefault) {
  EXPECT_EQ(parseAll(buildNewRoute(0, 6, prefix("10.99.0.0/16"))),
            (std::vector{routeEvent(6, false, RT_TABLE_MAIN)}));
  EXPECT_EQ(parseAll(buildDelRoute(0, 6, prefix("0.0.0.0/0"))),
            (std::vector{routeEvent(6, true, RT_TABLE_MAIN)}));
  // RTA_TABLE wins over rtm_table (tables above 255 only fit there).
  EXPECT_EQ(parseAll(defaultRoute(RTM_NEWROUTE, 1000, 2)),
            (std::vector{routeEvent(2, true, 1000)}));
  // A multipath route has no RTA_OIF.
  rtmsg rt{};
  rt.rtm_family = AF_INET6;
  rt.rtm_table = RT_TABLE_MAIN;
  EXPECT_EQ(parseAll(message(RTM_DELROUTE, bytesOf(rt))),
            (std::vector{routeEvent(0, true, RT_TABLE_MAIN)}));
}

TEST(NetlinkEvents, LinksUpDownAndRemoved) {
  EXPECT_EQ(parseAll(link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING)),
            (std::vector{linkEvent(2, IFF_UP | IFF_RUNNING, false)}));
  EXPECT_EQ(parseAll(link(RTM_DELLINK, 5, 0)), (std::vector{linkEvent(5, 0, true)}));
  // The builder's RTM_NEWLINK request has the same fixed header.
  EXPECT_EQ(parseAll(buildSetLink(0, 7, 1400, true)),
            (std::vector{linkEvent(7, IFF_UP, false)}));
}

TEST(NetlinkEvents, SeveralMessagesInOrderAndUnknownTypesSkipped) {
  Bytes neigh = message(RTM_NEWNEIGH, Bytes(12, 0));
  Bytes noop = message(NLMSG_NOOP, {});
  Bytes datagram = concat({link(RTM_NEWLINK, 2, IFF_UP), neigh,
                           buildNewAddress(0, 2, prefix("198.51.100.7/24")), noop,
                           defaultRoute(RTM_NEWROUTE, RT_TABLE_MAIN, 2),
                           message(RTM_NEWRULE, Bytes(12, 0)), message(0x7fff, {1, 2, 3, 4})});
  EXPECT_EQ(parseAll(datagram),
            (std::vector{linkEvent(2, IFF_UP, false),
                         addressEvent(EventKind::kAddressAdded, 2, "198.51.100.7/24"),
                         routeEvent(2, true, RT_TABLE_MAIN)}));
}

TEST(NetlinkEvents, OverrunMessageAndOtherFamilies) {
  EXPECT_EQ(parseAll(message(NLMSG_OVERRUN, {})), (std::vector{NetlinkEvent{}}));
  EXPECT_EQ(parseAll(message(NLMSG_OVERRUN, {})).front().kind, EventKind::kResync);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_PACKET;  // not an IP address: no event, not an error
  EXPECT_TRUE(parseAll(message(RTM_NEWADDR, concat({bytesOf(ifa), attribute(IFA_ADDRESS,
                                                                            {1, 2, 3, 4, 5, 6})})))
                  .empty());
}

TEST(NetlinkEvents, EmptyDatagramIsFine) { EXPECT_TRUE(parseAll({}).empty()); }

TEST(NetlinkEvents, LastMessageMayLackPadding) {
  // A 21-byte body: nlmsg_len 37, padded to 40 when another message follows.
  Bytes odd = message(0x7ffe, Bytes(21, 0xaa));
  ASSERT_EQ(odd.size(), 40u);
  EXPECT_EQ(parseAll(concat({odd, link(RTM_NEWLINK, 3, 0)})),
            (std::vector{linkEvent(3, 0, false)}));
  Bytes last = concat({link(RTM_NEWLINK, 3, 0), odd});
  last.resize(last.size() - 3);
  EXPECT_EQ(parseAll(last), (std::vector{linkEvent(3, 0, false)}));
  // An unpadded address message last: its event is still produced.
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = 8;
  ifa.ifa_index = 1;
  rtattr a{};
  a.rta_len = 5;  // one byte of data; invalid for IFA_LOCAL, ignored for IFA_FLAGS-like types
  a.rta_type = IFA_LABEL;
  Bytes body = concat({bytesOf(ifa), attribute(IFA_LOCAL, {10, 0, 0, 1}), bytesOf(a), Bytes{'x'}});
  Bytes unpadded = message(RTM_NEWADDR, body);
  unpadded.resize(sizeof(nlmsghdr) + body.size());
  EXPECT_EQ(parseAll(unpadded),
            (std::vector{addressEvent(EventKind::kAddressAdded, 1, "10.0.0.1/8")}));
}

TEST(NetlinkEvents, EveryTruncationGivesAPrefixAndFails) {
  const Bytes parts[] = {buildNewAddress(0, 2, prefix("198.51.100.7/24")),
                         defaultRoute(RTM_NEWROUTE, RT_TABLE_MAIN, 2), link(RTM_DELLINK, 4, 0)};
  Bytes datagram = concat({parts[0], parts[1], parts[2]});
  std::vector<NetlinkEvent> full = parseAll(datagram);
  ASSERT_EQ(full.size(), 3u);
  const std::size_t ends[] = {parts[0].size(), parts[0].size() + parts[1].size()};
  for (std::size_t n = 1; n < datagram.size(); ++n) {
    Bytes cut(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<NetlinkEvent> out;
    bool ok = parseEvents(cut, out);
    std::size_t complete = (n >= ends[0] ? 1u : 0u) + (n >= ends[1] ? 1u : 0u);
    bool at_boundary = n == ends[0] || n == ends[1];
    EXPECT_EQ(ok, at_boundary) << n;  // a cut between messages leaves a valid datagram
    ASSERT_EQ(out.size(), complete) << n;
    EXPECT_TRUE(std::equal(out.begin(), out.end(), full.begin())) << n;
  }
}

TEST(NetlinkEvents, ImpossibleHeaderLengthsStopTheWalk) {
  Bytes good = link(RTM_NEWLINK, 2, 0);
  for (std::uint32_t bad_len : {0u, 1u, 15u, 1000u, 0xffffffffu}) {
    Bytes broken = link(RTM_NEWLINK, 3, 0);
    std::memcpy(broken.data(), &bad_len, sizeof bad_len);
    std::vector<NetlinkEvent> out;
    EXPECT_FALSE(parseEvents(concat({good, broken, good}), out)) << bad_len;
    EXPECT_EQ(out, (std::vector{linkEvent(2, 0, false)})) << bad_len;
  }
}

TEST(NetlinkEvents, MalformedKnownMessagesAreSkippedAndReported) {
  ifaddrmsg v4{};
  v4.ifa_family = AF_INET;
  v4.ifa_prefixlen = 24;
  v4.ifa_index = 2;
  Bytes attr_too_long = attribute(IFA_LOCAL, {10, 0, 0, 1});
  attr_too_long[0] = 200;  // rta_len past the end of the message
  Bytes attr_too_short = attribute(IFA_LOCAL, {10, 0, 0, 1});
  attr_too_short[0] = 3;  // shorter than its own header
  ifaddrmsg wide = v4;
  wide.ifa_prefixlen = 33;
  ifaddrmsg v6 = v4;
  v6.ifa_family = AF_INET6;
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  const Bytes bad[] = {
      message(RTM_NEWADDR, Bytes(sizeof(ifaddrmsg) - 1, 0)),  // header cut short
      message(RTM_NEWADDR, concat({bytesOf(v4), attr_too_long})),
      message(RTM_NEWADDR, concat({bytesOf(v4), attr_too_short})),
      message(RTM_NEWADDR, concat({bytesOf(wide), attribute(IFA_LOCAL, {10, 0, 0, 1})})),
      message(RTM_NEWADDR, concat({bytesOf(v6), attribute(IFA_LOCAL, {10, 0, 0, 1})})),  // 4 != 16
      message(RTM_DELADDR, bytesOf(v4)),  // no address at all
      message(RTM_NEWADDR, concat({bytesOf(v4), Bytes{8, 0}})),  // half an attribute header
      message(RTM_NEWROUTE, Bytes(sizeof(rtmsg) - 1, 0)),
      message(RTM_NEWROUTE, concat({bytesOf(rt), attribute(RTA_OIF, {1, 0})})),  // 2-byte oif
      message(RTM_NEWROUTE, concat({bytesOf(rt), attribute(RTA_TABLE, {1, 0, 0, 0, 0})})),
      message(RTM_NEWLINK, Bytes(sizeof(ifinfomsg) - 1, 0)),
  };
  Bytes good = link(RTM_NEWLINK, 8, 0);
  for (std::size_t i = 0; i < std::size(bad); ++i) {
    std::vector<NetlinkEvent> out;
    EXPECT_FALSE(parseEvents(concat({bad[i], good}), out)) << i;
    // The bad message gives nothing; the walk continues to the good one after it.
    EXPECT_EQ(out, (std::vector{linkEvent(8, 0, false)})) << i;
  }
}

TEST(NetlinkEvents, RandomBytesNeverReadOutOfBounds) {
  // Exact-size heap copies let ASan/valgrind catch any read past the end.
  std::mt19937 rng(12345);
  Bytes valid = concat({buildNewAddress(0, 2, prefix("198.51.100.7/24")),
                        defaultRoute(RTM_NEWROUTE, RT_TABLE_MAIN, 2), link(RTM_NEWLINK, 4, 0)});
  std::size_t parsed_any = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b;
    if (i % 2 == 0) {
      b.resize(rng() % 200);
      for (auto& x : b) {
        x = static_cast<std::uint8_t>(rng());
      }
    } else {
      b = valid;  // mutate a few bytes of a valid datagram
      for (int k = 0; k < 3; ++k) {
        b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      }
    }
    auto heap = std::make_unique<std::uint8_t[]>(b.size());
    if (!b.empty()) {
      std::memcpy(heap.get(), b.data(), b.size());
    }
    std::vector<NetlinkEvent> out;
    (void)parseEvents(std::span<const std::uint8_t>(heap.get(), b.size()), out);
    for (const auto& e : out) {
      bool is_address = e.kind == EventKind::kAddressAdded || e.kind == EventKind::kAddressRemoved;
      EXPECT_EQ(e.address.has_value(), is_address);
    }
    parsed_any += out.size();
  }
  EXPECT_GT(parsed_any, 0u);  // mutated valid datagrams still yield events
}

TEST(NetlinkEvents, KindNames) {
  EXPECT_STREQ(toString(EventKind::kAddressAdded), "address-added");
  EXPECT_STREQ(toString(EventKind::kAddressRemoved), "address-removed");
  EXPECT_STREQ(toString(EventKind::kRouteChanged), "route-changed");
  EXPECT_STREQ(toString(EventKind::kLinkChanged), "link-changed");
  EXPECT_STREQ(toString(EventKind::kResync), "resync");
}

}  // namespace
}  // namespace vpn::tun::netlink
