#include <gtest/gtest.h>

#include "config/suggest.hpp"

namespace vpn::config {
namespace {

constexpr std::string_view kKeys[] = {"name", "address", "listen", "ca", "cert", "key"};

TEST(EditDistance, Basics) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("abc", ""), 3u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(editDistance("adress", "address"), 1u);
  EXPECT_EQ(editDistance("Address", "address"), 0u);
  EXPECT_EQ(editDistance("lsiten", "listen"), 2u);
}

TEST(ClosestMatch, WithinTwoEdits) {
  EXPECT_EQ(closestMatch("adress", kKeys), "address");
  EXPECT_EQ(closestMatch("NAME", kKeys), "name");
  EXPECT_EQ(closestMatch("certs", kKeys), "cert");
  EXPECT_EQ(closestMatch("lsiten", kKeys), "listen");
  EXPECT_EQ(closestMatch("endpoint", kKeys), std::nullopt);
  EXPECT_EQ(closestMatch("key_file", kKeys), "key");
  EXPECT_EQ(closestMatch("listen_port", kKeys), "listen");
  EXPECT_EQ(closestMatch("ca_file", kKeys), std::nullopt);  // "ca" is too short a prefix
  // Two edits would turn "x" into anything short; that is not a suggestion.
  EXPECT_EQ(closestMatch("x", kKeys), std::nullopt);
  EXPECT_EQ(closestMatch(std::string(10000, 'a'), kKeys), std::nullopt);
}

TEST(DidYouMean, Formats) {
  EXPECT_EQ(didYouMean("adress", kKeys), " (did you mean 'address'?)");
  EXPECT_EQ(didYouMean("zzzzzz", kKeys), "");
}

}  // namespace
}  // namespace vpn::config
