#include "crypto/replay_window.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace vpn::crypto {
namespace {

constexpr std::uint64_t kW = ReplayWindow::kWindowSize;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(ReplayWindowTest, CounterZeroIsValidOnce) {
  ReplayWindow w;
  EXPECT_TRUE(w.check(0));
  EXPECT_TRUE(w.commit(0));
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_FALSE(w.check(0));
  EXPECT_FALSE(w.commit(0));
  EXPECT_TRUE(w.commit(1));
}

TEST(ReplayWindowTest, DuplicateRejected) {
  ReplayWindow w;
  for (std::uint64_t c = 0; c < 100; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  for (std::uint64_t c = 0; c < 100; ++c) {
    EXPECT_FALSE(w.check(c)) << c;
    EXPECT_FALSE(w.commit(c)) << c;
  }
  EXPECT_EQ(w.highest(), 99u);
}

TEST(ReplayWindowTest, OutOfOrderInsideWindowAcceptedOnce) {
  ReplayWindow w;
  ASSERT_TRUE(w.commit(1000));
  for (std::uint64_t c : {999u, 500u, 1u, 998u}) {
    EXPECT_TRUE(w.commit(c)) << c;
    EXPECT_FALSE(w.commit(c)) << c;
  }
  EXPECT_EQ(w.highest(), 1000u);
  EXPECT_TRUE(w.check(997));
}

// Semantics: with H the highest committed counter, H - (kWindowSize - 1) is the oldest counter
// still accepted; H - kWindowSize is too old.
TEST(ReplayWindowTest, WindowEdgeIsExact) {
  ReplayWindow w;
  const std::uint64_t h = 100000;
  ASSERT_TRUE(w.commit(h));
  EXPECT_TRUE(w.check(h - (kW - 1)));
  EXPECT_FALSE(w.check(h - kW));
  EXPECT_FALSE(w.commit(h - kW));
  EXPECT_TRUE(w.commit(h - (kW - 1)));
  EXPECT_FALSE(w.commit(h - (kW - 1)));
}

TEST(ReplayWindowTest, EdgeAtEveryBlockOffset) {
  // The bitmap moves in 64-bit blocks; the edge must be exact whatever H's offset in its block.
  for (std::uint64_t h = 3 * kW; h < 3 * kW + 130; ++h) {
    ReplayWindow w;
    ASSERT_TRUE(w.commit(h - kW - 5));
    ASSERT_TRUE(w.commit(h));
    EXPECT_TRUE(w.commit(h - (kW - 1))) << h;
    EXPECT_FALSE(w.check(h - kW)) << h;
    for (std::uint64_t c = h - (kW - 1) + 1; c < h; c += 61) {
      EXPECT_TRUE(w.check(c)) << h << " " << c;
    }
  }
}

TEST(ReplayWindowTest, SlidingKeepsLiveBitsAndDropsOldOnes) {
  ReplayWindow w;
  for (std::uint64_t c = 0; c < 3 * kW; c += 2) {
    ASSERT_TRUE(w.commit(c));
  }
  const std::uint64_t h = w.highest();
  for (std::uint64_t c = h - (kW - 1); c <= h; ++c) {
    EXPECT_EQ(w.check(c), c % 2 == 1) << c;
  }
}

TEST(ReplayWindowTest, BigForwardJumpClearsOldBits) {
  ReplayWindow w;
  for (std::uint64_t c = 0; c < 300; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  // Jumps landing where old bits live (same ring slots): they must read as unseen.
  for (std::uint64_t jump : {kW + 300, 2 * kW + 64 * 129, kW * 5 + 17}) {
    ReplayWindow v = w;
    ASSERT_TRUE(v.commit(jump)) << jump;
    for (std::uint64_t c = jump - (kW - 1); c < jump; ++c) {
      ASSERT_TRUE(v.check(c)) << "jump " << jump << " counter " << c;
    }
    EXPECT_FALSE(v.check(jump));
    EXPECT_FALSE(v.check(299));
  }
}

TEST(ReplayWindowTest, PartialForwardJumpClearsOnlyPassedBlocks) {
  ReplayWindow w;
  for (std::uint64_t c = 0; c < kW; ++c) {
    ASSERT_TRUE(w.commit(c));
  }
  ASSERT_TRUE(w.commit(kW + 1000));
  const std::uint64_t h = w.highest();
  for (std::uint64_t c = h - (kW - 1); c < kW; ++c) {
    ASSERT_FALSE(w.check(c)) << c;  // still remembered
  }
  for (std::uint64_t c = kW; c < h; ++c) {
    ASSERT_TRUE(w.check(c)) << c;  // never seen
  }
}

TEST(ReplayWindowTest, NearUint64Max) {
  ReplayWindow w;
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

TEST(ReplayWindowTest, FirstCounterLargeThenOlderInsideWindow) {
  ReplayWindow w;
  ASSERT_TRUE(w.commit(20000));
  EXPECT_TRUE(w.commit(20000 - 100));
  EXPECT_FALSE(w.check(20000 - kW));
}

TEST(ReplayWindowTest, CheckDoesNotMutate) {
  ReplayWindow w;
  ASSERT_TRUE(w.commit(50));
  ReplayWindow before = w;
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

TEST(ReplayWindowTest, RejectedCommitChangesNothing) {
  ReplayWindow w;
  ASSERT_TRUE(w.commit(kW + 10));
  EXPECT_FALSE(w.commit(5));
  EXPECT_EQ(w.highest(), kW + 10);
  EXPECT_TRUE(w.check(11));
}

TEST(ReplayWindowTest, ResetForgetsEverything) {
  ReplayWindow w;
  ASSERT_TRUE(w.commit(10));
  ASSERT_TRUE(w.commit(5));
  w.reset();
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_TRUE(w.commit(5));
  EXPECT_TRUE(w.commit(0));
  EXPECT_TRUE(w.commit(10));
}

}  // namespace
}  // namespace vpn::crypto
