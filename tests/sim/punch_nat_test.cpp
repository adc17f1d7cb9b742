// SimulatedNat on its own: mapping per type, filtering per type, LAN traffic, unroutable private
// addresses, and mapping expiry. Drives outbound()/inbound() directly on a virtual clock.
#include <gtest/gtest.h>

#include "tests/fakes/simulated_nat.hpp"

namespace vpn::test {
namespace {

protocol::Endpoint ep(const char* text) { return *protocol::Endpoint::parse(text); }

struct NatCase {
  explicit NatCase(NatType t)
      : nat(natConfig(t, "nat", *protocol::IpAddress::parse("198.51.100.1"),
                      *protocol::IpPrefix::parse("10.0.1.0/24"))) {}
  // Sends from inside to `to`; returns the public source the outside sees.
  protocol::Endpoint out(const char* from, const char* to) {
    Datagram d{ep(from), ep(to), {}};
    EXPECT_TRUE(nat.outbound(now, d));
    return d.from;
  }
  // Delivers from outside `from` to `to`; the inside endpoint it reached, or nullopt if dropped.
  std::optional<protocol::Endpoint> in(const char* from, const protocol::Endpoint& to) {
    Datagram d{ep(from), to, {}};
    if (!nat.inbound(now, d)) {
      return std::nullopt;
    }
    return d.to;
  }
  SimulatedNat nat;
  Instant now = Instant{} + std::chrono::hours(1);
};

TEST(SimulatedNat, EndpointIndependentMappingKeepsOnePortForEveryDestination) {
  NatCase c(NatType::kPortRestrictedCone);
  auto m1 = c.out("10.0.1.2:51820", "203.0.113.1:7000");
  auto m2 = c.out("10.0.1.2:51820", "198.51.100.2:40000");
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(m1.address().toString(), "198.51.100.1");
  EXPECT_NE(c.out("10.0.1.3:51820", "203.0.113.1:7000"), m1);  // another host, another port
}

TEST(SimulatedNat, SymmetricMappingUsesANewPortPerDestination) {
  NatCase c(NatType::kSymmetric);
  auto m1 = c.out("10.0.1.2:51820", "203.0.113.1:7000");
  auto m2 = c.out("10.0.1.2:51820", "198.51.100.2:40000");
  auto m3 = c.out("10.0.1.2:51820", "203.0.113.1:7000");
  EXPECT_NE(m1, m2);
  EXPECT_EQ(m1, m3);
  // Only the destination of a mapping gets through it.
  EXPECT_TRUE(c.in("198.51.100.2:40000", m2).has_value());
  EXPECT_FALSE(c.in("198.51.100.2:40000", m1).has_value());
}

TEST(SimulatedNat, FilteringByType) {
  for (auto t : {NatType::kFullCone, NatType::kRestrictedCone, NatType::kPortRestrictedCone}) {
    NatCase c(t);
    auto m = c.out("10.0.1.2:51820", "203.0.113.1:7000");
    EXPECT_EQ(c.in("203.0.113.1:7000", m), ep("10.0.1.2:51820")) << toString(t);
    auto same_addr_other_port = c.in("203.0.113.1:7001", m);
    auto other_addr = c.in("192.0.2.9:7000", m);
    EXPECT_EQ(same_addr_other_port.has_value(), t != NatType::kPortRestrictedCone) << toString(t);
    EXPECT_EQ(other_addr.has_value(), t == NatType::kFullCone) << toString(t);
    // Nothing comes in on a port that was never mapped.
    EXPECT_FALSE(c.in("203.0.113.1:7000", ep("198.51.100.1:1234")).has_value());
  }
}

TEST(SimulatedNat, LanTrafficIsUntouchedAndPrivateAddressesAreUnreachableFromOutside) {
  NatCase c(NatType::kSymmetric);
  EXPECT_EQ(c.out("10.0.1.2:51820", "10.0.1.3:51820"), ep("10.0.1.2:51820"));
  EXPECT_EQ(c.in("10.0.1.2:51820", ep("10.0.1.3:51820")), ep("10.0.1.3:51820"));
  EXPECT_FALSE(c.in("198.51.100.2:40000", ep("10.0.1.3:51820")).has_value());
  // Traffic that has nothing to do with this NAT passes.
  EXPECT_EQ(c.in("192.0.2.1:1", ep("192.0.2.2:2")), ep("192.0.2.2:2"));
}

TEST(SimulatedNat, MappingsExpireWithoutOutboundTraffic) {
  NatCase c(NatType::kFullCone);
  auto m = c.out("10.0.1.2:51820", "203.0.113.1:7000");
  c.now += seconds(20);
  EXPECT_TRUE(c.in("203.0.113.1:7000", m).has_value());  // inbound does not refresh
  c.now += seconds(11);
  EXPECT_FALSE(c.in("203.0.113.1:7000", m).has_value());
  EXPECT_EQ(c.nat.activeMappings(c.now), 0u);
  auto fresh = c.out("10.0.1.2:51820", "203.0.113.1:7000");
  EXPECT_NE(fresh, m);  // a new binding, as real NATs mostly do
}

TEST(SimulatedNat, APortForwardReachesItsHostAndItsAnswersLeaveFromThePort) {
  NatCase c(NatType::kSymmetric);
  c.nat.addPortForward(51820, ep("10.0.1.2:51820"));
  auto reached = c.in("203.0.113.9:4000", ep("198.51.100.1:51820"));
  ASSERT_TRUE(reached.has_value()) << "a forward ignores the filtering";
  EXPECT_EQ(*reached, ep("10.0.1.2:51820"));
  EXPECT_EQ(c.out("10.0.1.2:51820", "203.0.113.9:4000"), ep("198.51.100.1:51820"));
  // Other destinations still get a symmetric NAT's fresh port.
  EXPECT_NE(c.out("10.0.1.2:51820", "203.0.113.10:4000").port(), 51820);
  EXPECT_FALSE(c.in("203.0.113.9:4000", ep("198.51.100.1:51821")).has_value());
}

}  // namespace
}  // namespace vpn::test
