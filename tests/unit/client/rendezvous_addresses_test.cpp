// RendezvousAddresses::literals(): what the daemon starts before the resolver runs must be what
// resolution publishes a moment later (less the TCP address), or the engine would drop and
// restart the rendezvous it had just begun.
#include "client/rendezvous_addresses.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "../net/loop_fixture.hpp"

namespace vpn::client {
namespace {

using net::test::LoopTest;

config::RendezvousEntry entry(std::string host, std::uint16_t port,
                              std::optional<std::string> tcp_host = std::nullopt,
                              std::optional<std::string> name = std::nullopt) {
  config::RendezvousEntry e;
  e.host = std::move(host);
  e.port = port;
  if (tcp_host) {
    e.tcp_host = std::move(tcp_host);
    e.tcp_port = 443;
  }
  e.name = std::move(name);
  return e;
}

class RendezvousAddressesTest : public LoopTest {
 protected:
  std::vector<RendezvousSpec> published;
  int publications = 0;

  std::unique_ptr<RendezvousAddresses> make(net::Resolver& resolver,
                                            std::vector<config::RendezvousEntry> entries) {
    return std::make_unique<RendezvousAddresses>(
        resolver, std::move(entries),
        [](const protocol::IpAddress& a) { return a.isV4(); },  // an IPv4 socket
        [this](std::vector<RendezvousSpec> specs) {
          published = std::move(specs);
          publications++;
        },
        [](const protocol::Endpoint&, const std::string&) {});
  }
};

TEST_F(RendezvousAddressesTest, LiteralsAreWhatResolutionPublishesWithoutTheTcpAddress) {
  net::Resolver resolver(loop_);
  auto addrs = make(resolver, {entry("198.51.100.1", 3478, "198.51.100.1", "rv1"),
                               entry("2001:db8::1", 3478),            // not our socket's family
                               entry("198.51.100.1", 3478),           // the same server again
                               entry("203.0.113.9", 7000)});
  auto early = addrs->literals();
  ASSERT_EQ(early.size(), 2u);
  EXPECT_EQ(early[0].udp, protocol::Endpoint::parse("198.51.100.1:3478").value());
  EXPECT_EQ(early[0].name, std::optional<std::string>("rv1"));
  EXPECT_FALSE(early[0].tcp.has_value());  // its TLS set-up comes with the publication
  EXPECT_FALSE(early[0].udp_alt.has_value());
  EXPECT_EQ(early[1].udp, protocol::Endpoint::parse("203.0.113.9:7000").value());
  EXPECT_EQ(publications, 0);  // literals() calls nothing

  addrs->refresh(EngineStatus{});
  ASSERT_TRUE(runUntil([&] { return published.size() == 2; }, std::chrono::milliseconds(2000)));
  // Published: the same servers in the same order with the same pins; only the TCP address is
  // added.
  EXPECT_EQ(published[0].udp, early[0].udp);
  EXPECT_EQ(published[0].name, early[0].name);
  EXPECT_EQ(published[0].tcp, protocol::Endpoint::parse("198.51.100.1:443"));
  EXPECT_EQ(published[1].udp, early[1].udp);
  EXPECT_EQ(published[1].name, early[1].name);
  EXPECT_EQ(published[1].udp_alt, early[1].udp_alt);
}

}  // namespace
}  // namespace vpn::client
