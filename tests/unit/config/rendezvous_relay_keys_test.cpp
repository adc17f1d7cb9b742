// rendezvous.toml keys for relaying and TCP (docs/paths.md): rendezvous.tcp_listen,
// rendezvous.tcp_tls and the [relay] table. Lines 1-5 are kRvBase; appended text starts at line 6
// (still inside [rendezvous] until another header).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/rendezvous_config.hpp"

namespace vpn::config {
namespace {

using Lines = std::vector<std::string>;

constexpr std::string_view kRvBase =
    "[rendezvous]\n"               // 1
    "listen = \"0.0.0.0:3478\"\n"  // 2
    "ca = \"ca.crt\"\n"            // 3
    "cert = \"rv.crt\"\n"          // 4
    "key = \"rv.key\"\n";          // 5

std::string rv(std::string_view rest) {
  return std::string(kRvBase) + std::string(rest);
}

Lines errorLines(const std::string& text) {
  auto r = parseRendezvousConfig(text, "rv.toml");
  Lines out;
  if (!r.ok()) {
    for (const auto& e : r.error()) {
      out.push_back(e.toString());
    }
  }
  return out;
}

RendezvousConfig parseOk(const std::string& text) {
  auto r = parseRendezvousConfig(text, "rv.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().front().toString());
  return r.ok() ? *r : RendezvousConfig{};
}

TEST(RendezvousTcpListen, Defaults) {
  RendezvousConfig c = parseOk(rv(""));
  EXPECT_TRUE(c.tcp_listen.empty());
  EXPECT_TRUE(c.tcp_tls);
  EXPECT_TRUE(c.relay.enabled);
  EXPECT_EQ(c.relay.max_channels, 256u);
  EXPECT_EQ(c.relay.rate, 12.5e6);
  EXPECT_EQ(c.relay.burst, 1e6);
  EXPECT_EQ(c.relay.max_bytes, 0u);
  EXPECT_EQ(c.relay.total_rate, 125e6);
  EXPECT_EQ(c.relay.total_burst, 4e6);
}

TEST(RendezvousTcpListen, Offloads) {
  EXPECT_TRUE(parseOk(rv("")).udp_gso);
  RendezvousConfig c = parseOk(rv("offloads = [\"udp-gro\"]\n"));
  EXPECT_FALSE(c.udp_gso);
  EXPECT_TRUE(c.udp_gro);
  EXPECT_FALSE(parseOk(rv("offloads = []\n")).udp_gro);
  EXPECT_EQ(errorLines(rv("offloads = [\"udp-gsx\"]\n")),
            (Lines{"rv.toml:6:13: rendezvous.offloads[0]: 'udp-gsx' is not an offload; use any "
                   "of udp-gso, udp-gro (did you mean 'udp-gso'?)"}));
}

TEST(RendezvousTcpListen, RelayTotalRateAndBurst) {
  RendezvousConfig c = parseOk(rv("[relay]\ntotal_rate = 1000000000\ntotal_burst = 8000000\n"));
  EXPECT_EQ(c.relay.total_rate, 1e9);
  EXPECT_EQ(c.relay.total_burst, 8e6);
  EXPECT_EQ(errorLines(rv("[relay]\ntotal_rate = 10\n")).size(), 1u);
}

TEST(RendezvousTcpListen, StringOrList) {
  RendezvousConfig one = parseOk(rv("tcp_listen = \"0.0.0.0:443\"\ntcp_tls = false\n"));
  ASSERT_EQ(one.tcp_listen.size(), 1u);
  EXPECT_EQ(one.tcp_listen[0].toString(), "0.0.0.0:443");
  EXPECT_FALSE(one.tcp_tls);
  RendezvousConfig two = parseOk(rv("tcp_listen = [\"0.0.0.0:443\", \"[::]:8443\"]\n"));
  ASSERT_EQ(two.tcp_listen.size(), 2u);
  EXPECT_EQ(two.tcp_listen[1].toString(), "[::]:8443");
  EXPECT_TRUE(two.tcp_tls);
  EXPECT_EQ(two.listen.size(), 1u);
  EXPECT_FALSE(one.tcp_listen_default);
  EXPECT_FALSE(two.tcp_listen_default);
}

TEST(RendezvousTcpListen, AbsentMeansTheListenAddressesAndEmptyMeansNone) {
  RendezvousConfig dflt = parseOk(rv(""));
  EXPECT_TRUE(dflt.tcp_listen.empty());
  EXPECT_TRUE(dflt.tcp_listen_default);
  EXPECT_TRUE(dflt.tcp_tls);
  RendezvousConfig none = parseOk(rv("tcp_listen = []\n"));
  EXPECT_TRUE(none.tcp_listen.empty());
  EXPECT_FALSE(none.tcp_listen_default);
}

TEST(RendezvousTcpListen, Errors) {
  EXPECT_EQ(errorLines(rv("tcp_listen = [\"rv.example.net:443\", \"0.0.0.0:0\", \"0.0.0.0:443\","
                          " \"0.0.0.0:443\", 5]\n")),
            (Lines{"rv.toml:6:15: rendezvous.tcp_listen[0]: expected address:port such as "
                   "\"0.0.0.0:443\" or \"[::]:443\", got 'rv.example.net:443'",
                   "rv.toml:6:37: rendezvous.tcp_listen[1]: port 0 is not allowed; peers need a "
                   "fixed port to reach the TCP listener",
                   "rv.toml:6:65: rendezvous.tcp_listen[3]: listed twice: 0.0.0.0:443",
                   "rv.toml:6:80: rendezvous.tcp_listen[4]: expected a string, got an integer"}));
  EXPECT_EQ(errorLines(rv("tcp_listen = 443\ntcp_tls = \"on\"\n")),
            (Lines{"rv.toml:6:14: rendezvous.tcp_listen: expected a string or an array of "
                   "strings, got an integer",
                   "rv.toml:7:11: rendezvous.tcp_tls: expected a boolean (true or false), got a "
                   "string"}));
  EXPECT_EQ(errorLines(rv("tcp_tsl = true\n")),
            (Lines{"rv.toml:6:1: rendezvous.tcp_tsl: unknown key (did you mean 'tcp_tls'?)"}));
}

TEST(RelayTable, AllKeys) {
  RendezvousConfig c = parseOk(rv("[relay]\nenabled = false\nmax_channels = 1\nrate = 1000\n"
                                  "burst = 65536\nmax_bytes = 1073741824\n"));
  EXPECT_FALSE(c.relay.enabled);
  EXPECT_EQ(c.relay.max_channels, 1u);
  EXPECT_EQ(c.relay.rate, 1000.0);
  EXPECT_EQ(c.relay.burst, 65536.0);
  EXPECT_EQ(c.relay.max_bytes, 1073741824u);
  RendezvousConfig hi = parseOk(rv("[relay]\nmax_channels = 65535\nmax_bytes = 0\n"));
  EXPECT_EQ(hi.relay.max_channels, 65535u);
  EXPECT_EQ(hi.relay.max_bytes, 0u);
  EXPECT_TRUE(hi.relay.enabled);
}

TEST(RelayTable, OutOfRange) {
  EXPECT_EQ(errorLines(rv("[relay]\nmax_channels = 0\nrate = 999\nburst = 65535\n"
                          "max_bytes = -1\n")),
            (Lines{"rv.toml:7:16: relay.max_channels: must be between 1 and 65535, got 0",
                   "rv.toml:8:8: relay.rate: must be at least 1000, got 999",
                   "rv.toml:9:9: relay.burst: must be at least 65536, got 65535",
                   "rv.toml:10:13: relay.max_bytes: must be at least 0, got -1"}));
  EXPECT_EQ(errorLines(rv("[relay]\nmax_channels = 65536\n")),
            (Lines{"rv.toml:7:16: relay.max_channels: must be between 1 and 65535, got 65536"}));
}

TEST(RelayTable, WrongTypes) {
  EXPECT_EQ(errorLines(rv("[relay]\nenabled = \"yes\"\nrate = 1.5e6\nburst = true\n")),
            (Lines{"rv.toml:7:11: relay.enabled: expected a boolean (true or false), got a string",
                   "rv.toml:8:8: relay.rate: expected an integer, got a floating-point number",
                   "rv.toml:9:9: relay.burst: expected an integer, got a boolean"}));
  EXPECT_EQ(errorLines("relay = 1\n" + std::string(kRvBase)),
            (Lines{"rv.toml:1:9: relay: expected a table ([relay]), got an integer"}));
}

TEST(RelayTable, UnknownKeysSuggest) {
  EXPECT_EQ(errorLines(rv("[relay]\nmax_chanels = 3\n")),
            (Lines{"rv.toml:7:1: relay.max_chanels: unknown key (did you mean 'max_channels'?)"}));
  EXPECT_EQ(errorLines(rv("[rely]\nenabled = true\n")),
            (Lines{"rv.toml:6:2: rely: unknown table (did you mean 'relay'?)"}));
  EXPECT_EQ(errorLines("max_bytes = 5\n" + std::string(kRvBase)),
            (Lines{"rv.toml:1:1: max_bytes: unknown key ('max_bytes' belongs in the [relay] "
                   "section)"}));
  EXPECT_EQ(errorLines("tcp_tls = true\n" + std::string(kRvBase)),
            (Lines{"rv.toml:1:1: tcp_tls: unknown key ('tcp_tls' belongs in the [rendezvous] "
                   "section)"}));
}

TEST(RelayTable, ErrorsFromBothTablesAtOnce) {
  EXPECT_EQ(errorLines(rv("refresh = 1\ntcp_listen = \"x\"\n[relay]\nrate = 5\n")),
            (Lines{"rv.toml:6:11: rendezvous.refresh: must be between 5 and 3600, got 1",
                   "rv.toml:7:14: rendezvous.tcp_listen: expected address:port such as "
                   "\"0.0.0.0:443\" or \"[::]:443\", got 'x'",
                   "rv.toml:9:8: relay.rate: must be at least 1000, got 5"}));
}

}  // namespace
}  // namespace vpn::config
