// CookieMaker and AdmissionLimiter: the stateless proof of a source address, and the buckets a
// proven source then passes through.
#include <gtest/gtest.h>

#include "session/admission.hpp"
#include "session/cookie.hpp"

namespace vpn::session {
namespace {

protocol::Endpoint ep(const char* s) { return *protocol::Endpoint::parse(s); }
protocol::IpAddress ip(const char* s) { return *protocol::IpAddress::parse(s); }

TEST(Cookie, BindsAddressPortAndIndex) {
  CookieMaker m;
  Instant t0{};
  auto c = m.make(t0, ep("198.51.100.7:4000"), 77);
  EXPECT_TRUE(m.check(t0, ep("198.51.100.7:4000"), 77, c));
  EXPECT_FALSE(m.check(t0, ep("198.51.100.8:4000"), 77, c));
  EXPECT_FALSE(m.check(t0, ep("198.51.100.7:4001"), 77, c));
  EXPECT_FALSE(m.check(t0, ep("198.51.100.7:4000"), 78, c));
  EXPECT_FALSE(m.check(t0, ep("[2001:db8::7]:4000"), 77, c));
  auto bad = c;
  bad[15] ^= 1;
  EXPECT_FALSE(m.check(t0, ep("198.51.100.7:4000"), 77, bad));
  EXPECT_FALSE(m.check(t0, ep("198.51.100.7:4000"), 77, std::span(c).first(15)));
}

TEST(Cookie, LivesOneToTwoRotationsAndNoLonger) {
  CookieMaker m(seconds(120));
  Instant t0{};
  auto from = ep("[2001:db8::1]:51820");
  auto c = m.make(t0, from, 5);
  EXPECT_TRUE(m.check(t0 + seconds(119), from, 5, c));
  EXPECT_TRUE(m.check(t0 + seconds(200), from, 5, c));  // rotated once: previous secret
  EXPECT_FALSE(m.check(t0 + seconds(241), from, 5, c));  // rotated twice
  // Two makers never accept each other's cookies (fresh random secrets).
  CookieMaker other;
  EXPECT_FALSE(other.check(t0, from, 5, m.make(t0, from, 5)));
}

TEST(Admission, PerAddressBucket) {
  AdmissionLimiter::Options o;
  o.address_burst = 3;
  o.address_per_second = 1;
  AdmissionLimiter a(o);
  Instant t{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.allow(t, ip("198.51.100.1")), AdmissionLimiter::Verdict::kAllow);
  }
  EXPECT_EQ(a.allow(t, ip("198.51.100.1")), AdmissionLimiter::Verdict::kAddress);
  // Another IPv4 address is another bucket, even in the same /24 (CGNAT and offices share them).
  EXPECT_EQ(a.allow(t, ip("198.51.100.2")), AdmissionLimiter::Verdict::kAllow);
  EXPECT_EQ(a.allow(t + seconds(1), ip("198.51.100.1")), AdmissionLimiter::Verdict::kAllow);
}

TEST(Admission, OneIpv6SlashSixtyFourIsOneNetworkWhateverItsAddresses) {
  AdmissionLimiter::Options o;
  o.address_burst = 8;
  o.network_burst = 5;
  o.network_per_second = 0.001;
  AdmissionLimiter a(o);
  Instant t{};
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    std::string s = "2001:db8:1:2::" + std::to_string(i + 1);
    allowed += a.allow(t, ip(s.c_str())) == AdmissionLimiter::Verdict::kAllow ? 1 : 0;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(a.allow(t, ip("2001:db8:1:2::ffff")), AdmissionLimiter::Verdict::kNetwork);
  EXPECT_EQ(a.allow(t, ip("2001:db8:1:3::1")), AdmissionLimiter::Verdict::kAllow);
  EXPECT_EQ(AdmissionLimiter::networkOf(ip("2001:db8:1:2:aa:bb:cc:dd")), ip("2001:db8:1:2::"));
}

TEST(Admission, GlobalRateCapsEveryoneTogether) {
  AdmissionLimiter::Options o;
  o.global_burst = 10;
  o.global_per_second = 5;
  AdmissionLimiter a(o);
  Instant t{};
  int allowed = 0;
  for (std::uint32_t i = 0; i < 50; ++i) {
    allowed += a.allow(t, protocol::IpAddress::v4(0xCB000000u + i)) ==
                       AdmissionLimiter::Verdict::kAllow
                   ? 1
                   : 0;
  }
  EXPECT_EQ(allowed, 10);
  EXPECT_EQ(a.allow(t, ip("192.0.2.1")), AdmissionLimiter::Verdict::kGlobal);
  EXPECT_EQ(a.allow(t + seconds(1), ip("192.0.2.1")), AdmissionLimiter::Verdict::kAllow);
}

}  // namespace
}  // namespace vpn::session
