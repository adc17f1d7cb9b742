#include <gtest/gtest.h>

#include "tests/unit/config/test_util.hpp"

namespace vpn::config::test {
namespace {

using Lines = std::vector<std::string>;

TEST(RendezvousEntries, ParsesNamesAndAddresses) {
  auto r = parsePeerConfig(withBase("[[rendezvous]]\naddress = \"rv1.example.net:3478\"\n"
                                    "[[rendezvous]]\naddress = \"[2001:db8::1]:3478\"\n"
                                    "[[rendezvous]]\naddress = \"198.51.100.1:443\"\n"),
                           "alice.toml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rendezvous.size(), 3u);
  EXPECT_EQ(r->rendezvous[0].host, "rv1.example.net");
  EXPECT_EQ(r->rendezvous[0].port, 3478);
  EXPECT_EQ(r->rendezvous[1].host, "2001:db8::1");
  EXPECT_EQ(r->rendezvous[1].toString(), "[2001:db8::1]:3478");
  EXPECT_EQ(r->rendezvous[2].toString(), "198.51.100.1:443");
}

TEST(RendezvousEntries, ReportsBadAddressesAndDuplicatesWithPositions) {
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\naddress = \"rv1.example.net\"\n"
                                "[[rendezvous]]\naddress = \"a:1\"\n"
                                "[[rendezvous]]\naddress = \"a:1\"\n")),
            (Lines{"alice.toml:9:11: rendezvous[0].address: 'rv1.example.net' is not a host and "
                   "UDP port, e.g. \"rv1.example.net:3478\", \"198.51.100.1:3478\" or "
                   "\"[2001:db8::1]:3478\"",
                   "alice.toml:13:11: rendezvous[2].address: 'a:1' is listed twice"}));
}

TEST(RendezvousEntries, UnknownKeyAndMissingAddress) {
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\nadress = \"a:1\"\n")),
            (Lines{"alice.toml:8:1: rendezvous[0].address: missing required key",
                   "alice.toml:9:1: rendezvous[0].adress: unknown key (did you mean 'address'?)"}));
}

TEST(HostPort, AcceptsAndRejects) {
  EXPECT_TRUE(parseHostPort("rv-1.example.net:3478"));
  EXPECT_TRUE(parseHostPort("localhost:1"));
  for (const char* bad : {"", ":3478", "host:", "host:0", "host:65536", "-host:1", "host-:1",
                          "ho st:1", "a..b:1", "[198.51.100.1]:1", "2001:db8::1:3478", "h:1x"}) {
    EXPECT_FALSE(parseHostPort(bad)) << bad;
  }
}

}  // namespace
}  // namespace vpn::config::test
