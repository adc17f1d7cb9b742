// NatDiscovery's port step: a NAT whose destination-dependent mappings take consecutive ports
// (step 1..8) is reported with its step, also when other mappings were made meanwhile; a NAT
// that randomizes, steps further, or maps independently of the destination gets none.
#include <gtest/gtest.h>

#include <string>

#include "client/netcheck/nat_discovery.hpp"
#include "tests/unit/netcheck/nat_world.hpp"

namespace vpn::netcheck {
namespace {

using namespace nattest;

TEST(NatDiscovery, SequentialPortsGiveTheStep) {
  for (std::uint16_t step : {std::uint16_t{1}, std::uint16_t{3}}) {
    World w;
    w.port_step = step;
    auto r = drive(w).report;
    ASSERT_EQ(r.nat_type, NatType::kSymmetric);
    ASSERT_TRUE(r.port_stride.has_value()) << step;
    EXPECT_EQ(*r.port_stride, step);
    bool noted = false;
    for (const auto& n : r.notes) {
      noted = noted || n.find("next port (step " + std::to_string(step)) != std::string::npos;
    }
    EXPECT_TRUE(noted);
  }
  // Other mappings made between test I and the mapping tests (the tunnel punching meanwhile)
  // do not hide the step: the two mapping tests leave together.
  World busy;
  bool punched = false;
  busy.drop_request = [&](const Endpoint& to, int) {
    if (!punched && to.port() == busy.primary.port()) {  // after test I's mapping is made
      punched = true;
      busy.next_port = static_cast<std::uint16_t>(busy.next_port + 5);
    }
    return false;
  };
  auto rb = drive(busy).report;
  ASSERT_TRUE(rb.port_stride.has_value());
  EXPECT_EQ(*rb.port_stride, 1);
  // Across the server's ports only: two mappings, one step.
  World w;
  w.server_alt_ip = false;
  w.port_step = 2;
  auto r = drive(w).report;
  ASSERT_EQ(r.nat_type, NatType::kSymmetric);
  ASSERT_TRUE(r.port_stride.has_value());
  EXPECT_EQ(*r.port_stride, 2);
}

TEST(NatDiscovery, NoStepForRandomPortsLargeStepsOrOneMapping) {
  World random;
  random.scattered_ports = true;
  auto r = drive(random).report;
  EXPECT_EQ(r.nat_type, NatType::kSymmetric);
  EXPECT_FALSE(r.port_stride.has_value());
  World far;
  far.port_step = static_cast<std::uint16_t>(protocol::kMaxPortStride + 1);
  EXPECT_FALSE(drive(far).report.port_stride.has_value());
  World cone;
  cone.mapping = Mapping::kEndpointIndependent;
  EXPECT_FALSE(drive(cone).report.port_stride.has_value());
}

}  // namespace
}  // namespace vpn::netcheck
