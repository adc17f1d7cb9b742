// The default gateway: route dumps parsed (RTM_NEWROUTE with gateway, source, metric, table), the
// choice among routes, and the real thing in a private network namespace (a veth pair, an
// address and a default route made with `ip` by the test; the product reads them over rtnetlink).
#include "tun/default_gateway.hpp"

#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

#include "tests/unit/tun/netns_child.hpp"
#include "tun/netlink_socket.hpp"

namespace vpn::tun {
namespace {

using Bytes = std::vector<std::uint8_t>;
using netlink::AddressEntry;
using netlink::RouteEntry;

protocol::IpAddress ip(const char* s) { return *protocol::IpAddress::parse(s); }

void put(Bytes& b, const void* p, std::size_t n) {
  auto* c = static_cast<const std::uint8_t*>(p);
  b.insert(b.end(), c, c + n);
  b.resize((b.size() + 3) & ~std::size_t{3}, 0);
}
void attr(Bytes& b, std::uint16_t type, const void* p, std::size_t n) {
  rtattr a{};
  a.rta_type = type;
  a.rta_len = static_cast<unsigned short>(RTA_LENGTH(n));
  auto* h = reinterpret_cast<const std::uint8_t*>(&a);
  b.insert(b.end(), h, h + sizeof a);
  put(b, p, n);
}

// An RTM_NEWROUTE as a dump reply carries it: rtmsg, then attributes.
Bytes routeMessage(std::uint8_t dst_len, std::uint32_t table, const char* gw, int oif,
                   std::uint32_t metric) {
  Bytes b(sizeof(nlmsghdr), 0);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = dst_len;
  rt.rtm_table = static_cast<std::uint8_t>(table < 256 ? table : RT_TABLE_COMPAT);
  rt.rtm_type = RTN_UNICAST;
  put(b, &rt, sizeof rt);
  attr(b, RTA_TABLE, &table, 4);
  if (gw != nullptr) {
    attr(b, RTA_GATEWAY, ip(gw).bytes(), 4);
  }
  std::uint32_t o = static_cast<std::uint32_t>(oif);
  attr(b, RTA_OIF, &o, 4);
  attr(b, RTA_PRIORITY, &metric, 4);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(b.size());
  h.nlmsg_type = RTM_NEWROUTE;
  h.nlmsg_flags = NLM_F_MULTI;
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

TEST(DefaultGateway, ParsesARouteDumpMessage) {
  auto r = netlink::parseRoute(routeMessage(0, RT_TABLE_MAIN, "192.168.1.1", 3, 600));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->family, AF_INET);
  EXPECT_EQ(r->dst_len, 0);
  EXPECT_EQ(r->table, static_cast<std::uint32_t>(RT_TABLE_MAIN));
  EXPECT_EQ(r->gateway, ip("192.168.1.1"));
  EXPECT_EQ(r->ifindex, 3);
  EXPECT_EQ(r->priority, 600u);
  EXPECT_FALSE(r->prefsrc);
  Bytes m = routeMessage(0, 1000, nullptr, 2, 0);
  r = netlink::parseRoute(m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->table, 1000u);
  EXPECT_FALSE(r->gateway);
  // Every truncation is refused or parsed within bounds.
  for (std::size_t n = 0; n < m.size(); ++n) {
    Bytes cut(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n));
    (void)netlink::parseRoute(cut);
  }
  m[16] = 99;  // an unknown family
  EXPECT_FALSE(netlink::parseRoute(m));
}

RouteEntry route(const char* gw, int oif, std::uint32_t metric, std::uint32_t table = RT_TABLE_MAIN,
                 std::uint8_t dst_len = 0) {
  RouteEntry r;
  r.family = AF_INET;
  r.dst_len = dst_len;
  r.type = RTN_UNICAST;
  r.table = table;
  r.ifindex = oif;
  r.priority = metric;
  if (gw != nullptr) {
    r.gateway = ip(gw);
  }
  return r;
}

TEST(DefaultGateway, LowestMetricInTheMainTableWithAnAddressOnItsLink) {
  std::vector<AddressEntry> addrs = {{2, *protocol::IpPrefix::parse("10.0.0.5/8")},
                                     {3, *protocol::IpPrefix::parse("172.16.0.9/24")},
                                     {3, *protocol::IpPrefix::parse("192.168.1.7/24")}};
  std::vector<RouteEntry> routes = {route("10.0.0.1", 2, 600), route("192.168.1.1", 3, 100),
                                    route("172.31.0.1", 4, 1, 200),         // another table
                                    route("172.31.0.1", 4, 1, RT_TABLE_MAIN, 24),  // not default
                                    route(nullptr, 5, 0)};                  // no gateway
  auto g = chooseDefaultGateway(routes, addrs);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->gateway, ip("192.168.1.1"));
  EXPECT_EQ(g->local, ip("192.168.1.7")) << "the address whose prefix holds the gateway";
  EXPECT_EQ(g->ifindex, 3);
  routes[1].prefsrc = ip("172.16.0.9");
  EXPECT_EQ(chooseDefaultGateway(routes, addrs)->local, ip("172.16.0.9"));
  routes.erase(routes.begin() + 1);
  g = chooseDefaultGateway(routes, addrs);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->gateway, ip("10.0.0.1"));
  EXPECT_FALSE(chooseDefaultGateway({route("10.0.0.1", 9, 0)}, addrs)) << "no address there";
  EXPECT_FALSE(chooseDefaultGateway({}, addrs));
}

TEST(DefaultGateway, FoundOverRtnetlinkInANamespace) {
  REQUIRE_ROOT();
  std::string error = test::runInNetns([] {
    test::check(std::system("ip link add gw0 type veth peer name gw1 && "
                            "ip addr add 192.168.77.2/24 dev gw0 && ip link set gw0 up && "
                            "ip link set gw1 up && ip route add default via 192.168.77.1") == 0,
                "setting up a veth pair and a default route");
    auto nl = LinuxNetlinkSocket::open();
    auto g = findDefaultGateway(*nl);
    test::check(g.has_value(), "no default gateway found");
    test::check(g->gateway == ip("192.168.77.1"), "gateway " + g->gateway.toString());
    test::check(g->local == ip("192.168.77.2"), "local " + g->local.toString());
    test::check(g->ifindex == static_cast<int>(::if_nametoindex("gw0")), "ifindex");
  });
  EXPECT_EQ(error, "");
}

}  // namespace
}  // namespace vpn::tun
