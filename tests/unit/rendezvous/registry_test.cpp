#include "rendezvous/engine/registry.hpp"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.hpp"

namespace vpn::rendezvous {
namespace {

std::unique_ptr<PeerRecord> record(const std::string& name, std::uint32_t index,
                                   std::vector<const char*> addresses, Instant now) {
  auto r = std::make_unique<PeerRecord>();
  r->name = name;
  r->local_index = index;
  r->remote_index = index + 1000;
  r->last_rx = now;
  for (const char* a : addresses) {
    r->addresses.push_back(*protocol::IpPrefix::parse(a));
  }
  return r;
}

TEST(Registry, FindsByIndexNameAndAddress) {
  test::FakeClock clock;
  Registry reg;
  reg.insert(record("alice", 1, {"10.42.0.1/24", "fd42::1/64"}, clock.now()));
  reg.insert(record("bob", 2, {"10.42.0.2/24"}, clock.now()));
  EXPECT_EQ(reg.size(), 2u);
  ASSERT_NE(reg.byIndex(1), nullptr);
  EXPECT_EQ(reg.byIndex(1)->name, "alice");
  EXPECT_EQ(reg.byName("bob")->local_index, 2u);
  EXPECT_EQ(reg.byAddress(*protocol::IpAddress::parse("fd42::1"))->name, "alice");
  EXPECT_EQ(reg.byAddress(*protocol::IpAddress::parse("10.42.0.2"))->name, "bob");
  EXPECT_EQ(reg.byAddress(*protocol::IpAddress::parse("10.42.0.3")), nullptr);
  EXPECT_EQ(reg.byName("carol"), nullptr);
  EXPECT_EQ(reg.byIndex(3), nullptr);
  EXPECT_TRUE(reg.indexInUse(2));
}

TEST(Registry, NewerSessionReplacesOlderOfSameName) {
  test::FakeClock clock;
  Registry reg;
  reg.insert(record("alice", 1, {"10.42.0.1/24"}, clock.now()));
  auto [r, replaced] = reg.insert(record("alice", 7, {"10.42.0.1/24"}, clock.now()));
  EXPECT_TRUE(replaced);
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.byIndex(1), nullptr);
  EXPECT_EQ(reg.byName("alice"), r);
  EXPECT_EQ(reg.byAddress(*protocol::IpAddress::parse("10.42.0.1")), r);
}

TEST(Registry, RemovingKeepsOthersIntact) {
  test::FakeClock clock;
  Registry reg;
  reg.insert(record("alice", 1, {"10.42.0.1/24"}, clock.now()));
  reg.insert(record("bob", 2, {"10.42.0.2/24"}, clock.now()));
  reg.remove(*reg.byName("alice"));
  EXPECT_EQ(reg.byName("alice"), nullptr);
  EXPECT_EQ(reg.byAddress(*protocol::IpAddress::parse("10.42.0.1")), nullptr);
  EXPECT_EQ(reg.byName("bob")->local_index, 2u);
}

TEST(Registry, ExpiresOnlySilentRecords) {
  test::FakeClock clock;
  Registry reg;
  reg.insert(record("alice", 1, {}, clock.now()));
  reg.insert(record("bob", 2, {}, clock.now()));
  clock.advance(seconds(60));
  reg.byName("alice")->last_rx = clock.now();
  clock.advance(seconds(15));
  EXPECT_EQ(reg.expire(clock.now(), seconds(75)), 1u);
  EXPECT_EQ(reg.byName("bob"), nullptr);
  ASSERT_NE(reg.byName("alice"), nullptr);
  EXPECT_EQ(reg.expire(clock.now(), seconds(75)), 0u);
  clock.advance(seconds(60));
  EXPECT_EQ(reg.expire(clock.now(), seconds(75)), 1u);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(TokenBucket, StartsFullAndRefills) {
  test::FakeClock clock;
  TokenBucket b;
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(b.take(clock.now(), 20, 40)) << i;
  }
  EXPECT_FALSE(b.take(clock.now(), 20, 40));
  clock.advance(milliseconds(100));
  EXPECT_TRUE(b.take(clock.now(), 20, 40));
  EXPECT_TRUE(b.take(clock.now(), 20, 40));
  EXPECT_FALSE(b.take(clock.now(), 20, 40));
  clock.advance(seconds(100));
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(b.take(clock.now(), 20, 40));
  }
  EXPECT_FALSE(b.take(clock.now(), 20, 40));
}

}  // namespace
}  // namespace vpn::rendezvous
