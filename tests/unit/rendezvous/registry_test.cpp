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

std::unique_ptr<PeerRecord> onPath(const std::string& name, std::uint32_t index, SocketId socket,
                                   const char* endpoint, Instant now) {
  auto r = record(name, index, {}, now);
  r->socket = socket;
  r->endpoint = *protocol::Endpoint::parse(endpoint);
  return r;
}

protocol::Endpoint ep(const char* text) {
  return *protocol::Endpoint::parse(text);
}

TEST(Registry, FindsByPathAndFollowsMoves) {
  test::FakeClock clock;
  Registry reg;
  const SocketId udp{};
  const SocketId tcp5{SocketRole::kTcp, 0, 5};
  auto* a = reg.insert(onPath("alice", 1, udp, "198.51.100.7:4000", clock.now())).first;
  auto* b = reg.insert(onPath("bob", 2, tcp5, "192.0.2.9:5000", clock.now())).first;
  EXPECT_EQ(reg.byPath(udp, ep("198.51.100.7:4000")), a);
  EXPECT_EQ(reg.byPath(tcp5, ep("192.0.2.9:5000")), b);
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:5000")), nullptr);
  EXPECT_EQ(reg.byPath(SocketId{SocketRole::kTcp, 0, 6}, ep("192.0.2.9:5000")), nullptr);
  EXPECT_EQ(reg.byPath(SocketId{SocketRole::kPrimary, 1, 0}, ep("198.51.100.7:4000")), nullptr);

  reg.setPath(*a, udp, ep("198.51.100.7:4001"));
  EXPECT_EQ(reg.byPath(udp, ep("198.51.100.7:4000")), nullptr);
  EXPECT_EQ(reg.byPath(udp, ep("198.51.100.7:4001")), a);
  EXPECT_EQ(a->endpoint, ep("198.51.100.7:4001"));

  // The connection closes: bob is unreachable and off the index; closing again finds nobody.
  EXPECT_EQ(reg.closeConnection(5), 1u);
  EXPECT_TRUE(b->unreachable);
  EXPECT_EQ(reg.byPath(tcp5, ep("192.0.2.9:5000")), nullptr);
  EXPECT_EQ(reg.closeConnection(5), 0u);
  // He comes back over UDP.
  reg.setPath(*b, udp, ep("192.0.2.9:6000"));
  EXPECT_FALSE(b->unreachable);
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), b);
  EXPECT_EQ(reg.closeConnection(5), 0u);
  EXPECT_FALSE(b->unreachable);

  // A newer session on the same path takes the index over; removing the older leaves it.
  auto* c = reg.insert(onPath("carol", 3, udp, "192.0.2.9:6000", clock.now())).first;
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), c);
  // bob speaks from there again: the path is his until carol does.
  reg.setPath(*b, udp, ep("192.0.2.9:6000"));
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), b);
  reg.setPath(*c, udp, ep("192.0.2.9:6000"));
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), c);
  reg.remove(*b);
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), c);
  reg.remove(*c);
  EXPECT_EQ(reg.byPath(udp, ep("192.0.2.9:6000")), nullptr);
}

TEST(Registry, ChannelsAreSharedAndDieWithEitherRecord) {
  test::FakeClock clock;
  Registry reg;
  auto* a = reg.insert(onPath("alice", 1, {}, "198.51.100.7:4000", clock.now())).first;
  auto* b = reg.insert(onPath("bob", 2, {}, "192.0.2.9:5000", clock.now())).first;
  auto* c = reg.insert(onPath("carol", 3, {}, "192.0.2.10:5000", clock.now())).first;
  reg.bind(*a, *b, 900);
  reg.bind(*a, *c, 17);
  EXPECT_EQ(a->partnerOn(900), 2u);
  EXPECT_EQ(b->partnerOn(900), 1u);
  EXPECT_EQ(a->partnerOn(17), 3u);
  EXPECT_EQ(c->partnerOn(17), 1u);
  EXPECT_EQ(a->partnerOn(18), 0u);
  EXPECT_EQ(a->channelTo(3), 17);
  EXPECT_EQ(b->channelTo(3), 0);
  ASSERT_EQ(a->channels.size(), 2u);
  EXPECT_LT(a->channels[0].channel, a->channels[1].channel);  // sorted

  reg.remove(*b);
  EXPECT_EQ(a->partnerOn(900), 0u);
  EXPECT_EQ(a->partnerOn(17), 3u);
  // A replacement of carol's session drops her channels too.
  reg.insert(onPath("carol", 4, {}, "192.0.2.10:5001", clock.now()));
  EXPECT_TRUE(a->channels.empty());
}

TEST(TokenBucket, CostsAndOversizedTakes) {
  test::FakeClock clock;
  TokenBucket b;
  EXPECT_TRUE(b.take(clock.now(), 100, 1000, 600));
  EXPECT_FALSE(b.take(clock.now(), 100, 1000, 600));
  EXPECT_TRUE(b.take(clock.now(), 100, 1000, 400));
  EXPECT_FALSE(b.take(clock.now(), 100, 1000, 1));
  clock.advance(seconds(2));  // 200 tokens
  EXPECT_FALSE(b.take(clock.now(), 100, 1000, 201));
  EXPECT_TRUE(b.take(clock.now(), 100, 1000, 200));
  // Over the burst: only from a full bucket, which it empties.
  clock.advance(seconds(9));
  EXPECT_FALSE(b.take(clock.now(), 100, 1000, 5000));
  clock.advance(seconds(1));
  EXPECT_TRUE(b.take(clock.now(), 100, 1000, 5000));
  EXPECT_FALSE(b.take(clock.now(), 100, 1000, 1));
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
