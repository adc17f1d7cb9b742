// EndOfTurn on a real loop: once per iteration however often armed, after that iteration's
// callbacks; re-armed from inside it runs at the next iteration; destroyed while armed, never.
#include "net/end_of_turn.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/timer.hpp"
#include "tests/unit/net/loop_fixture.hpp"

namespace vpn::net::test {
namespace {

class EndOfTurnTest : public LoopTest {};

TEST_F(EndOfTurnTest, RunsOnceAfterTheIterationsCallbacks) {
  std::vector<std::string> order;
  EndOfTurn turn(loop_, [&] { order.push_back("end"); });
  // Two timers due in the same iteration, each arming: one end, after both.
  Timer a(loop_, [&] {
    order.push_back("a");
    turn.arm();
  });
  Timer b(loop_, [&] {
    order.push_back("b");
    turn.arm();
    turn.arm();
  });
  Instant now = Clock::now();
  a.armAt(now);
  b.armAt(now);
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "end"}));
  EXPECT_FALSE(turn.armed());
}

TEST_F(EndOfTurnTest, ArmedFromItsOwnCallbackRunsAgainNextIteration) {
  int runs = 0;
  EndOfTurn* self = nullptr;
  EndOfTurn turn(loop_, [&] {
    if (++runs < 3) {
      self->arm();
    }
  });
  self = &turn;
  turn.arm();
  EXPECT_TRUE(runUntil([&] { return runs == 3; }, std::chrono::milliseconds(1000)));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(runs, 3);
}

TEST_F(EndOfTurnTest, DestroyedWhileArmedNeverRuns) {
  int runs = 0;
  {
    EndOfTurn turn(loop_, [&] { ++runs; });
    turn.arm();
  }
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace vpn::net::test
