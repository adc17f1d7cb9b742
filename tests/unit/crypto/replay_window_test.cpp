#include "crypto/replay_window.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace vpn::crypto {
namespace {

// Every test runs for both sizes: the data path's and the rendezvous control sessions'.
template <class Window>
class ReplayWindowTest : public ::testing::Test {};
using WindowSizes = ::testing::Types<ReplayWindow, SmallReplayWindow>;
TYPED_TEST_SUITE(ReplayWindowTest, WindowSizes);

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TYPED_TEST(ReplayWindowTest, CounterZeroIsValidOnce) {
  TypeParam w;
  EXPECT_TRUE(w.check(0));
  EXPECT_TRUE(w.commit(0));
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_FALSE(w.check(0));
  EXPECT_FALSE(w.commit(0));
  EXPECT_TRUE(w.commit(1));
}

TYPED_TEST(ReplayWindowTest, DuplicateRejected) {
  TypeParam w;
  for (std::uint64_t c = 0; c < 100; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  for (std::uint64_t c = 0; c < 100; ++c) {
    EXPECT_FALSE(w.check(c)) << c;
    EXPECT_FALSE(w.commit(c)) << c;
  }
  EXPECT_EQ(w.highest(), 99u);
}

TYPED_TEST(ReplayWindowTest, OutOfOrderInsideWindowAcceptedOnce) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  const std::uint64_t h = 10000;
  ASSERT_TRUE(w.commit(h));
  for (std::uint64_t c : {h - 1, h - kW / 2, h - (kW - 1), h - 2}) {
    EXPECT_TRUE(w.commit(c)) << c;
    EXPECT_FALSE(w.commit(c)) << c;
  }
  EXPECT_EQ(w.highest(), h);
  EXPECT_TRUE(w.check(h - 3));
}

// Semantics: with H the highest committed counter, H - (kWindowSize - 1) is the oldest counter
// still accepted; H - kWindowSize is too old.
TYPED_TEST(ReplayWindowTest, WindowEdgeIsExact) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  const std::uint64_t h = 100000;
  ASSERT_TRUE(w.commit(h));
  EXPECT_TRUE(w.check(h - (kW - 1)));
  EXPECT_FALSE(w.check(h - kW));
  EXPECT_FALSE(w.commit(h - kW));
  EXPECT_TRUE(w.commit(h - (kW - 1)));
  EXPECT_FALSE(w.commit(h - (kW - 1)));
}

TYPED_TEST(ReplayWindowTest, EdgeAtEveryBlockOffset) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  // The bitmap moves in 64-bit blocks; the edge must be exact whatever H's offset in its block.
  for (std::uint64_t h = 3 * kW; h < 3 * kW + 130; ++h) {
    TypeParam w;
    ASSERT_TRUE(w.commit(h - kW - 5));
    ASSERT_TRUE(w.commit(h));
    EXPECT_TRUE(w.commit(h - (kW - 1))) << h;
    EXPECT_FALSE(w.check(h - kW)) << h;
    for (std::uint64_t c = h - (kW - 1) + 1; c < h; c += 61) {
      EXPECT_TRUE(w.check(c)) << h << " " << c;
    }
  }
}

TYPED_TEST(ReplayWindowTest, SlidingKeepsLiveBitsAndDropsOldOnes) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  for (std::uint64_t c = 0; c < 3 * kW; c += 2) {
    ASSERT_TRUE(w.commit(c));
  }
  const std::uint64_t h = w.highest();
  for (std::uint64_t c = h - (kW - 1); c <= h; ++c) {
    EXPECT_EQ(w.check(c), c % 2 == 1) << c;
  }
}

TYPED_TEST(ReplayWindowTest, BigForwardJumpClearsOldBits) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  for (std::uint64_t c = 0; c < 300; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  // Jumps landing where old bits live (same ring slots): they must read as unseen.
  for (std::uint64_t jump : {kW + 300, 2 * kW + 64 * 129, kW * 5 + 17}) {
    TypeParam v = w;
    ASSERT_TRUE(v.commit(jump)) << jump;
    for (std::uint64_t c = jump - (kW - 1); c < jump; ++c) {
      ASSERT_TRUE(v.check(c)) << "jump " << jump << " counter " << c;
    }
    EXPECT_FALSE(v.check(jump));
    EXPECT_FALSE(v.check(299));
  }
}

TYPED_TEST(ReplayWindowTest, PartialForwardJumpClearsOnlyPassedBlocks) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  for (std::uint64_t c = 0; c < kW; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  ASSERT_TRUE(w.commit(kW + kW / 8));
  const std::uint64_t h = w.highest();
  for (std::uint64_t c = h - (kW - 1); c < kW; ++c) {
    ASSERT_FALSE(w.check(c)) << c;  // still remembered
  }
  for (std::uint64_t c = kW; c < h; ++c) {
    ASSERT_TRUE(w.check(c)) << c;  // never seen
  }
}

TYPED_TEST(ReplayWindowTest, NearUint64Max) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  ASSERT_TRUE(w.commit(kMax - 10));
  EXPECT_TRUE(w.commit(kMax));
  EXPECT_FALSE(w.check(kMax));
  EXPECT_TRUE(w.commit(kMax - 1));
  EXPECT_FALSE(w.check(kMax - 10));
  EXPECT_TRUE(w.check(kMax - 5));
  EXPECT_TRUE(w.check(kMax - (kW - 1)));
  EXPECT_FALSE(w.check(kMax - kW));
  EXPECT_FALSE(w.check(0));
  EXPECT_EQ(w.highest(), kMax);
}

TYPED_TEST(ReplayWindowTest, FirstCounterLargeThenOlderInsideWindow) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  ASSERT_TRUE(w.commit(20000));
  EXPECT_TRUE(w.commit(20000 - 100));
  EXPECT_FALSE(w.check(20000 - kW));
}

TYPED_TEST(ReplayWindowTest, CheckDoesNotMutate) {
  TypeParam w;
  ASSERT_TRUE(w.commit(50));
  TypeParam before = w;
  EXPECT_TRUE(w.check(51));
  EXPECT_TRUE(w.check(1000000));
  EXPECT_TRUE(w.check(49));
  EXPECT_EQ(w.highest(), 50u);
  EXPECT_TRUE(w.check(1000000));
  EXPECT_TRUE(w.commit(49));
  EXPECT_TRUE(before.commit(49));
  EXPECT_TRUE(w.commit(51));
  EXPECT_EQ(w.highest(), 51u);
}

TYPED_TEST(ReplayWindowTest, RejectedCommitChangesNothing) {
  constexpr std::uint64_t kW = TypeParam::kWindowSize;
  TypeParam w;
  ASSERT_TRUE(w.commit(kW + 10));
  EXPECT_FALSE(w.commit(5));
  EXPECT_EQ(w.highest(), kW + 10);
  EXPECT_TRUE(w.check(11));
}

TYPED_TEST(ReplayWindowTest, ResetForgetsEverything) {
  TypeParam w;
  ASSERT_TRUE(w.commit(10));
  ASSERT_TRUE(w.commit(5));
  w.reset();
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_TRUE(w.commit(5));
  EXPECT_TRUE(w.commit(0));
  EXPECT_TRUE(w.commit(10));
}

TEST(ReplayWindowSizes, SmallWindowIsSmall) {
  static_assert(ReplayWindow::kWindowSize == 8192);
  static_assert(SmallReplayWindow::kWindowSize == 256);
  EXPECT_LE(sizeof(SmallReplayWindow), 64u);
  EXPECT_GE(sizeof(ReplayWindow), 1024u);
}

}  // namespace
}  // namespace vpn::crypto
