#include "protocol/ip_address.hpp"

#include <gtest/gtest.h>

namespace vpn::protocol {
namespace {

TEST(IpAddress, ParsesAndFormatsBothFamilies) {
  auto a = IpAddress::parse("10.42.0.1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->isV4());
  EXPECT_EQ(a->toString(), "10.42.0.1");
  auto b = IpAddress::parse("fd00::1");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->isV6());
  EXPECT_EQ(b->toString(), "fd00::1");
}

TEST(IpAddress, RejectsGarbage) {
  for (const char* s : {"", "10.0.0", "10.0.0.256", "host.example", "1.2.3.4 ", "fe80::1%eth0",
                        "::ffff:1.2.3.4.5"}) {
    EXPECT_FALSE(IpAddress::parse(s)) << s;
  }
}

TEST(IpPrefix, ContainsRespectsPrefixLength) {
  auto p = IpPrefix::parse("10.42.0.1/24");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->contains(*IpAddress::parse("10.42.0.200")));
  EXPECT_FALSE(p->contains(*IpAddress::parse("10.42.1.1")));
  EXPECT_FALSE(p->contains(*IpAddress::parse("fd00::1")));
  EXPECT_EQ(p->network().toString(), "10.42.0.0/24");
  auto q = IpPrefix::parse("10.42.0.1/20");
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->contains(*IpAddress::parse("10.42.15.1")));
  EXPECT_FALSE(q->contains(*IpAddress::parse("10.42.16.1")));
  auto host = IpPrefix::parse("fd00::5");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->length(), 128);
}

TEST(IpPrefix, RejectsBadLengths) {
  for (const char* s : {"10.0.0.1/33", "10.0.0.1/", "10.0.0.1/-1", "fd00::/129", "10.0.0.1/2x"}) {
    EXPECT_FALSE(IpPrefix::parse(s)) << s;
  }
}

TEST(Endpoint, ParsesV4AndBracketedV6) {
  auto e = Endpoint::parse("192.0.2.7:51820");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port(), 51820);
  EXPECT_EQ(e->toString(), "192.0.2.7:51820");
  auto f = Endpoint::parse("[2001:db8::7]:443");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->toString(), "[2001:db8::7]:443");
  for (const char* s : {"192.0.2.7", "192.0.2.7:", "192.0.2.7:65536", "2001:db8::7:443",
                        "[192.0.2.7]:1", "[::1]", "host:80"}) {
    EXPECT_FALSE(Endpoint::parse(s)) << s;
  }
}

TEST(IpAddress, RoutableUnicastExcludesWhatNoPeerShouldBeAimedAt) {
  for (const char* s : {"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.9.9.9", "169.254.1.1", "224.0.0.1",
                        "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1", "fe80::1",
                        "febf::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(IpAddress::parse(s)->isRoutableUnicast()) << s;
  }
  for (const char* s : {"10.0.0.1", "192.168.1.7", "100.64.0.1", "198.51.100.7", "8.8.8.8",
                        "2001:db8::1", "fd00::7", "fec0::1", "64:ff9b::1.2.3.4"}) {
    EXPECT_TRUE(IpAddress::parse(s)->isRoutableUnicast()) << s;
  }
}

}  // namespace
}  // namespace vpn::protocol
