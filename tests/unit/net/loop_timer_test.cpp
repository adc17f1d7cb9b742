#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "loop_fixture.hpp"
#include "net/fd_watcher.hpp"
#include "net/loop.hpp"
#include "net/signal_watcher.hpp"
#include "net/sockaddr.hpp"
#include "net/timer.hpp"

namespace vpn::net::test {
namespace {

using std::chrono::milliseconds;

class TimerTest : public LoopTest {};

TEST_F(TimerTest, FiresInDeadlineOrderAndNotEarly) {
  std::vector<std::string> order;
  std::vector<bool> on_time;
  const Instant start = Clock::now();
  const Instant d1 = start + milliseconds(30);
  const Instant d2 = start + milliseconds(10);
  const Instant d3 = start + milliseconds(20);
  Timer t1(loop_, [&] { order.push_back("30"); on_time.push_back(Clock::now() >= d1); });
  Timer t2(loop_, [&] { order.push_back("10"); on_time.push_back(Clock::now() >= d2); });
  Timer t3(loop_, [&] { order.push_back("20"); on_time.push_back(Clock::now() >= d3); });
  t1.armAt(d1);
  t2.armAt(d2);
  t3.armAt(d3);
  EXPECT_TRUE(t1.armed());
  ASSERT_TRUE(runUntil([&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<std::string>{"10", "20", "30"}));
  EXPECT_EQ(on_time, (std::vector<bool>{true, true, true}));
  EXPECT_FALSE(t1.armed());
}

TEST_F(TimerTest, RearmReplacesAndCancelStops) {
  int fired = 0;
  int cancelled_fired = 0;
  Timer t(loop_, [&] { ++fired; });
  Timer c(loop_, [&] { ++cancelled_fired; });
  t.armAt(Clock::now() + milliseconds(5000));
  t.armAt(Clock::now() + milliseconds(5));  // replaces the far deadline
  c.armAt(Clock::now() + milliseconds(5));
  c.cancel();
  EXPECT_FALSE(c.armed());
  ASSERT_TRUE(runUntil([&] { return fired == 1; }, milliseconds(2000)));
  runUntil([] { return false; }, milliseconds(30));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(cancelled_fired, 0);
}

TEST_F(TimerTest, NeverDisarmsAndPastDeadlineFiresPromptly) {
  int fired = 0;
  Timer t(loop_, [&] { ++fired; });
  t.armAt(Clock::now() + milliseconds(5));
  t.armAt(kNever);
  EXPECT_FALSE(t.armed());
  runUntil([] { return false; }, milliseconds(30));
  EXPECT_EQ(fired, 0);
  t.armAt(Clock::now() - milliseconds(100));
  ASSERT_TRUE(runUntil([&] { return fired == 1; }, milliseconds(500)));
}

TEST_F(TimerTest, CallbackMayRearm) {
  int fired = 0;
  Timer* self = nullptr;
  Timer t(loop_, [&] {
    if (++fired < 3) {
      self->armAt(Clock::now() + milliseconds(1));
    }
  });
  self = &t;
  t.armAt(Clock::now());
  ASSERT_TRUE(runUntil([&] { return fired == 3; }, milliseconds(1000)));
}

class WatcherTest : public LoopTest {};

TEST_F(WatcherTest, FdWatcherSeesReadableAndNeverClosesTheFd) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int wakeups = 0;
  auto w = FdWatcher::create(loop_, fds[0], [&] {
    ++wakeups;
    char buf[16];
    (void)!::read(fds[0], buf, sizeof buf);
  });
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  ASSERT_TRUE(runUntil([&] { return wakeups == 1; }, milliseconds(1000)));
  w->stop();
  w->stop();  // idempotent
  ASSERT_EQ(::write(fds[1], "y", 1), 1);
  runUntil([] { return false; }, milliseconds(20));
  EXPECT_EQ(wakeups, 1);
  w.reset();
  runUntil([] { return false; }, milliseconds(5));
  char c = 0;
  EXPECT_EQ(::read(fds[0], &c, 1), 1) << "the watcher must not close the fd";
  EXPECT_EQ(c, 'y');
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(WatcherTest, SignalWatcherDeliversOnTheLoop) {
  std::vector<int> got;
  {
    SignalWatcher sw(loop_, {SIGUSR1, SIGUSR2}, [&](int s) { got.push_back(s); });
    ::raise(SIGUSR2);
    ASSERT_TRUE(runUntil([&] { return !got.empty(); }, milliseconds(1000)));
  }
  EXPECT_EQ(got, std::vector<int>{SIGUSR2});
}

TEST(LoopDrain, CountsHandlesTheirOwnerLeftOpen) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  uv_timer_t leaked;  // outlives the drain; only the drain closes it
  ASSERT_EQ(uv_timer_init(&loop, &leaked), 0);
  {
    Timer owned(loop, [] {});
    owned.armAt(Clock::now() + milliseconds(1000));
    EXPECT_EQ(openHandleCount(loop), 2u);
  }
  EXPECT_EQ(openHandleCount(loop), 1u);  // the owned one is closing
  DrainResult r = closeAllAndDrain(loop);
  EXPECT_EQ(r.force_closed, 1u);
  EXPECT_TRUE(r.loop_closed);
}

TEST(LoopDrain, CleanLoopClosesWithNothingLeft) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    Timer t(loop, [] {});
    t.armAt(Clock::now() + milliseconds(1000));
    auto w = FdWatcher::create(loop, fds[0], [] {});
  }
  DrainResult r = closeAllAndDrain(loop);
  EXPECT_EQ(r.force_closed, 0u);
  EXPECT_TRUE(r.loop_closed);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Sockaddr, RoundTripsAndMapping) {
  using protocol::Endpoint;
  sockaddr_storage ss{};
  auto v4 = *Endpoint::parse("192.0.2.7:51820");
  socklen_t len = toSockaddr(v4, ss);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(ss.ss_family, AF_INET);
  EXPECT_EQ(fromSockaddr(ss, len), v4);

  len = toSockaddr(v4, ss, true);  // as IPv4-mapped IPv6
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(ss.ss_family, AF_INET6);
  auto back = fromSockaddr(ss, len);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->address().isV4());
  EXPECT_EQ(*back, v4);

  auto v6 = *Endpoint::parse("[2001:db8::7]:443");
  len = toSockaddr(v6, ss);
  EXPECT_EQ(fromSockaddr(ss, len), v6);
  EXPECT_FALSE(fromSockaddr(ss, 4));  // too short
  ss.ss_family = AF_UNIX;
  EXPECT_FALSE(fromSockaddr(ss, sizeof ss));
}

}  // namespace
}  // namespace vpn::net::test
