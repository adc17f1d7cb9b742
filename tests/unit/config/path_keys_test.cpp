// Peer-file keys for path selection (docs/paths.md): rendezvous tcp/tls, peer.tcp_listen,
// peer.tcp_advertise and the [paths] table. Lines 1-7 are kBase; appended text starts at line 8
// (still inside [peer] until another header).
#include <gtest/gtest.h>

#include "tests/unit/config/test_util.hpp"

namespace vpn::config::test {
namespace {

using Lines = std::vector<std::string>;
using std::chrono::milliseconds;

PeerConfig parseOk(const std::string& text) {
  auto r = parsePeerConfig(text, "alice.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().front().toString());
  return r.ok() ? *r : PeerConfig{};
}

// ---- [[rendezvous]] tcp / tls

TEST(RendezvousTcp, DefaultsToTlsAtTheUdpAddressAndPort) {
  PeerConfig c = parseOk(withBase("[[rendezvous]]\naddress = \"rv1.example.net:3478\"\n"
                                  "[[rendezvous]]\naddress = \"198.51.100.1:3478\"\ntls = false\n"));
  ASSERT_EQ(c.rendezvous.size(), 2u);
  EXPECT_EQ(c.rendezvous[0].tcp_host, "rv1.example.net");
  EXPECT_EQ(c.rendezvous[0].tcp_port, 3478);
  EXPECT_TRUE(c.rendezvous[0].tcp_implicit);
  EXPECT_TRUE(c.rendezvous[0].tls);
  EXPECT_EQ(c.rendezvous[0].tcpToString(), "rv1.example.net:3478");
  EXPECT_EQ(c.rendezvous[1].tcpToString(), "198.51.100.1:3478");
  EXPECT_FALSE(c.rendezvous[1].tls);
}

TEST(RendezvousTcp, FalseTurnsTheFallbackOffAndTrueIsTheDefault) {
  PeerConfig c = parseOk(withBase("[[rendezvous]]\naddress = \"rv1.example.net:3478\"\n"
                                  "tcp = false\n"
                                  "[[rendezvous]]\naddress = \"198.51.100.1:3478\"\ntcp = true\n"));
  ASSERT_EQ(c.rendezvous.size(), 2u);
  EXPECT_FALSE(c.rendezvous[0].tcp_host);
  EXPECT_EQ(c.rendezvous[0].tcpToString(), "");
  EXPECT_EQ(c.rendezvous[1].tcpToString(), "198.51.100.1:3478");
  EXPECT_TRUE(c.rendezvous[1].tcp_implicit);
}

TEST(RendezvousTcp, ParsesHostNamesAndAddresses) {
  PeerConfig c = parseOk(withBase("[[rendezvous]]\naddress = \"rv1.example.net:3478\"\n"
                                  "tcp = \"rv1.example.net:443\"\n"
                                  "[[rendezvous]]\naddress = \"198.51.100.1:3478\"\n"
                                  "tcp = \"[2001:db8::1]:8443\"\ntls = false\n"
                                  "[[rendezvous]]\naddress = \"198.51.100.2:3478\"\n"
                                  "tcp = \"198.51.100.2:443\"\ntls = true\n"));
  ASSERT_EQ(c.rendezvous.size(), 3u);
  EXPECT_EQ(c.rendezvous[0].tcp_host, "rv1.example.net");
  EXPECT_EQ(c.rendezvous[0].tcp_port, 443);
  EXPECT_TRUE(c.rendezvous[0].tls);
  EXPECT_EQ(c.rendezvous[0].toString(), "rv1.example.net:3478");
  EXPECT_EQ(c.rendezvous[1].tcp_host, "2001:db8::1");
  EXPECT_EQ(c.rendezvous[1].tcpToString(), "[2001:db8::1]:8443");
  EXPECT_FALSE(c.rendezvous[1].tls);
  EXPECT_EQ(c.rendezvous[2].tcpToString(), "198.51.100.2:443");
  EXPECT_TRUE(c.rendezvous[2].tls);
}

TEST(RendezvousTcp, BadTcpAddress) {
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\naddress = \"a:1\"\ntcp = \"rv1.example.net\"\n")),
            (Lines{"alice.toml:10:7: rendezvous[0].tcp: 'rv1.example.net' is not a host and TCP "
                   "port, e.g. \"rv1.example.net:443\", \"198.51.100.1:443\" or "
                   "\"[2001:db8::1]:443\""}));
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\naddress = \"a:1\"\ntcp = \"a:0\"\n")).size(), 1u);
}

TEST(RendezvousTcp, TlsWithTheFallbackOffIsAnError) {
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\naddress = \"a:1\"\ntcp = false\ntls = false\n")),
            (Lines{"alice.toml:11:7: rendezvous[0].tls: only applies to the TCP fallback, which "
                   "tcp = false turns off; remove tls or tcp"}));
}

TEST(RendezvousTcp, WrongTypesAndUnknownKey) {
  EXPECT_EQ(errorLines(withBase("[[rendezvous]]\naddress = \"a:1\"\ntcp = 443\ntls = \"yes\"\n"
                                "tlz = true\n")),
            (Lines{"alice.toml:10:7: rendezvous[0].tcp: expected \"host:port\" or false (no TCP "
                   "fallback), got an integer",
                   "alice.toml:11:7: rendezvous[0].tls: expected a boolean (true or false), got "
                   "a string",
                   "alice.toml:12:1: rendezvous[0].tlz: unknown key (did you mean 'tls'?)"}));
}

// ---- peer.tcp_listen / peer.tcp_advertise

TEST(PeerTcp, DefaultsOff) {
  PeerConfig c = parseOk(std::string(kBase));
  EXPECT_FALSE(c.tcp_listen);
  EXPECT_TRUE(c.tcp_advertise.empty());
}

TEST(PeerTcp, ListenAndAdvertise) {
  PeerConfig c = parseOk(withBase(
      "tcp_listen = true\ntcp_advertise = [\"203.0.113.9:51820\", \"[2001:db8::9]:443\"]\n"));
  EXPECT_TRUE(c.tcp_listen);
  ASSERT_EQ(c.tcp_advertise.size(), 2u);
  EXPECT_EQ(c.tcp_advertise[0].toString(), "203.0.113.9:51820");
  EXPECT_EQ(c.tcp_advertise[1].toString(), "[2001:db8::9]:443");
  // A single string is accepted as a list of one.
  PeerConfig one = parseOk(withBase("tcp_listen = true\ntcp_advertise = \"203.0.113.9:1\"\n"));
  ASSERT_EQ(one.tcp_advertise.size(), 1u);
  EXPECT_EQ(one.tcp_advertise[0].port(), 1);
  EXPECT_FALSE(parseOk(withBase("tcp_listen = false\n")).tcp_listen);
}

TEST(PeerTcp, AdvertiseRequiresTcpListen) {
  const std::string message =
      ": peer.tcp_advertise: requires peer.tcp_listen = true: only a peer that accepts TCP can "
      "advertise where";
  EXPECT_EQ(errorLines(withBase("tcp_advertise = [\"203.0.113.9:51820\"]\n")),
            (Lines{"alice.toml:8:17" + message}));
  EXPECT_EQ(errorLines(withBase("tcp_listen = false\ntcp_advertise = [\"203.0.113.9:51820\"]\n")),
            (Lines{"alice.toml:9:17" + message}));
}

TEST(PeerTcp, BadAdvertisedEndpoints) {
  EXPECT_EQ(
      errorLines(withBase("tcp_listen = true\n"
                          "tcp_advertise = [\"example.net:443\", \"0.0.0.0:443\", "
                          "\"192.0.2.1:443\", \"192.0.2.1:443\"]\n")),
      (Lines{"alice.toml:9:18: peer.tcp_advertise[0]: 'example.net:443' is not an IP address and "
             "port, e.g. \"203.0.113.9:51820\" or \"[2001:db8::9]:51820\" (host names are not "
             "supported)",
             "alice.toml:9:37: peer.tcp_advertise[1]: '0.0.0.0:443' cannot be reached: it needs a "
             "specific address and a port other than 0",
             "alice.toml:9:69: peer.tcp_advertise[3]: '192.0.2.1:443' is listed twice"}));
  EXPECT_EQ(errorLines(withBase("tcp_listen = true\ntcp_advertise = [\"192.0.2.1:0\", 7]\n")),
            (Lines{"alice.toml:9:33: peer.tcp_advertise[1]: expected a string, got an integer"}));
  EXPECT_EQ(errorLines(withBase("tcp_listen = true\ntcp_advertise = [\"192.0.2.1:0\"]\n")),
            (Lines{"alice.toml:9:18: peer.tcp_advertise[0]: '192.0.2.1:0' cannot be reached: it "
                   "needs a specific address and a port other than 0"}));
  EXPECT_EQ(errorLines(withBase("tcp_listen = true\ntcp_advertise = \"192.0.2.1\"\n")).size(),
            1u);
}

TEST(PeerTcp, AtMostFourAdvertised) {
  EXPECT_EQ(errorLines(withBase("tcp_listen = true\ntcp_advertise = [\"192.0.2.1:1\", "
                                "\"192.0.2.1:2\", \"192.0.2.1:3\", \"192.0.2.1:4\", "
                                "\"192.0.2.1:5\"]\n")),
            (Lines{"alice.toml:9:17: peer.tcp_advertise: lists 5 endpoints; at most 4 are "
                   "allowed"}));
  EXPECT_EQ(parseOk(withBase("tcp_listen = true\ntcp_advertise = [\"192.0.2.1:1\", "
                             "\"192.0.2.1:2\", \"192.0.2.1:3\", \"192.0.2.1:4\"]\n"))
                .tcp_advertise.size(),
            4u);
}

TEST(PeerTcp, WrongTypes) {
  EXPECT_EQ(errorLines(withBase("tcp_listen = \"true\"\ntcp_advertise = 443\n")),
            (Lines{"alice.toml:8:14: peer.tcp_listen: expected a boolean (true or false), got a "
                   "string",
                   "alice.toml:9:17: peer.tcp_advertise: expected a string or an array of "
                   "strings, got an integer"}));
}

TEST(PeerTcp, TopLevelAndMisspelt) {
  EXPECT_EQ(errorLines(withBase("tcp_listn = true\n")),
            (Lines{"alice.toml:8:1: peer.tcp_listn: unknown key (did you mean 'tcp_listen'?)"}));
  EXPECT_EQ(errorLines("tcp_listen = true\n" + std::string(kBase)),
            (Lines{"alice.toml:1:1: tcp_listen: unknown key ('tcp_listen' belongs in the [peer] "
                   "section)"}));
}

// ---- [paths]

TEST(Paths, Defaults) {
  PeerConfig c = parseOk(std::string(kBase));
  EXPECT_TRUE(c.paths.relay);
  EXPECT_EQ(c.paths.relay_after, milliseconds(2000));
  EXPECT_EQ(c.paths.demote_after, milliseconds(4000));
  EXPECT_EQ(c.paths.udp_timeout, milliseconds(3000));
  PeerConfig empty = parseOk(withBase("[paths]\n"));
  EXPECT_TRUE(empty.paths.relay);
  EXPECT_EQ(empty.paths.relay_after, milliseconds(2000));
}

TEST(Nat, PortMappingIsOnByDefaultAndCanBeTurnedOff) {
  EXPECT_TRUE(parseOk(withBase("")).nat.port_mapping);
  EXPECT_FALSE(parseOk(withBase("[nat]\nport_mapping = false\n")).nat.port_mapping);
  EXPECT_TRUE(parseOk(withBase("[nat]\nport_mapping = true\n")).nat.port_mapping);
  EXPECT_EQ(errorLines(withBase("[nat]\nport_mapping = \"no\"\nport_maping = true\n")),
            (Lines{"alice.toml:9:16: nat.port_mapping: expected a boolean (true or false), got a "
                   "string",
                   "alice.toml:10:1: nat.port_maping: unknown key (did you mean 'port_mapping'?)"}));
  // Written above every section it is still named, with where it belongs.
  auto top = errorLines("port_mapping = false\n" + withBase(""));
  ASSERT_EQ(top.size(), 1u);
  EXPECT_NE(top[0].find("belongs in the [nat] section"), std::string::npos) << top[0];
}

TEST(Nat, PortPredictionIsOffByDefaultAndBounded) {
  PeerConfig d = parseOk(withBase(""));
  EXPECT_FALSE(d.nat.port_prediction);
  EXPECT_EQ(d.nat.prediction_sockets, 256u);
  EXPECT_EQ(d.nat.prediction_probes, 2048u);
  EXPECT_EQ(d.nat.prediction_rate, 256u);
  PeerConfig c = parseOk(withBase("[nat]\nport_prediction = true\nprediction_sockets = 512\n"
                                  "prediction_probes = 1\nprediction_rate = 2000\n"));
  EXPECT_TRUE(c.nat.port_prediction);
  EXPECT_EQ(c.nat.prediction_sockets, 512u);
  EXPECT_EQ(c.nat.prediction_probes, 1u);
  EXPECT_EQ(c.nat.prediction_rate, 2000u);
  EXPECT_EQ(errorLines(withBase("[nat]\nprediction_sockets = 513\nprediction_probes = 0\n"
                                "prediction_rate = 2001\n")),
            (Lines{"alice.toml:9:22: nat.prediction_sockets: 513 is out of range 1..512 sockets",
                   "alice.toml:10:21: nat.prediction_probes: 0 is out of range 1..16384 probes",
                   "alice.toml:11:19: nat.prediction_rate: 2001 is out of range 1..2000 probes a "
                   "second"}));
}

TEST(Paths, IntegersAndFloats) {
  PeerConfig c = parseOk(withBase(
      "[paths]\nrelay = false\nrelay_after = 0.5\ndemote_after = 10\nudp_timeout = 1.25\n"));
  EXPECT_FALSE(c.paths.relay);
  EXPECT_EQ(c.paths.relay_after, milliseconds(500));
  EXPECT_EQ(c.paths.demote_after, milliseconds(10000));
  EXPECT_EQ(c.paths.udp_timeout, milliseconds(1250));
}

TEST(Paths, RangeEndsAreAllowed) {
  PeerConfig lo = parseOk(
      withBase("[paths]\nrelay_after = 0.2\ndemote_after = 1\nudp_timeout = 1.0\n"));
  EXPECT_EQ(lo.paths.relay_after, milliseconds(200));
  EXPECT_EQ(lo.paths.demote_after, milliseconds(1000));
  EXPECT_EQ(lo.paths.udp_timeout, milliseconds(1000));
  PeerConfig hi = parseOk(
      withBase("[paths]\nrelay_after = 60\ndemote_after = 120.0\nudp_timeout = 60\n"));
  EXPECT_EQ(hi.paths.relay_after, milliseconds(60000));
  EXPECT_EQ(hi.paths.demote_after, milliseconds(120000));
  EXPECT_EQ(hi.paths.udp_timeout, milliseconds(60000));
}

TEST(Paths, OutOfRange) {
  EXPECT_EQ(errorLines(withBase("[paths]\nrelay_after = 0.1\ndemote_after = 121\n"
                                "udp_timeout = 0\n")),
            (Lines{"alice.toml:9:15: paths.relay_after: 0.1 is out of range 0.2..60 seconds",
                   "alice.toml:10:16: paths.demote_after: 121 is out of range 1..120 seconds",
                   "alice.toml:11:15: paths.udp_timeout: 0 is out of range 1..60 seconds"}));
  EXPECT_EQ(errorLines(withBase("[paths]\nrelay_after = nan\nudp_timeout = inf\n"
                                "demote_after = -1\n")),
            (Lines{"alice.toml:9:15: paths.relay_after: nan is out of range 0.2..60 seconds",
                   "alice.toml:10:15: paths.udp_timeout: inf is out of range 1..60 seconds",
                   "alice.toml:11:16: paths.demote_after: -1 is out of range 1..120 seconds"}));
}

TEST(Paths, WrongTypes) {
  EXPECT_EQ(errorLines(withBase("[paths]\nrelay = 1\nrelay_after = \"2s\"\n")),
            (Lines{"alice.toml:9:9: paths.relay: expected a boolean (true or false), got an "
                   "integer",
                   "alice.toml:10:15: paths.relay_after: expected a number of seconds (e.g. 2 or "
                   "0.5), got a string"}));
  EXPECT_EQ(errorLines(withBase("paths = 3\n")),
            (Lines{"alice.toml:8:1: peer.paths: unknown key"}));
  EXPECT_EQ(errorLines(withBase("[tun]\n[[paths]]\nrelay = true\n")),
            (Lines{"alice.toml:9:1: paths: expected a table ([paths]), got an array of tables"}));
}

TEST(Paths, UnknownKeysSuggest) {
  EXPECT_EQ(errorLines(withBase("[paths]\nrelay_afer = 2\n")),
            (Lines{"alice.toml:9:1: paths.relay_afer: unknown key (did you mean 'relay_after'?)"}));
  EXPECT_EQ(errorLines(withBase("[path]\nrelay = true\n")),
            (Lines{"alice.toml:8:2: path: unknown table (did you mean 'paths'?)"}));
  EXPECT_EQ(errorLines("relay = false\n" + std::string(kBase)),
            (Lines{"alice.toml:1:1: relay: unknown key ('relay' belongs in the [paths] "
                   "section)"}));
}

TEST(Paths, AllErrorsAtOnceAcrossSections) {
  auto lines = errorLines(withBase("tcp_advertise = [\"192.0.2.1:1\"]\n"
                                   "[[rendezvous]]\naddress = \"a:1\"\ntcp = false\ntls = true\n"
                                   "[paths]\nudp_timeout = 99\n"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("alice.toml:8:17: peer.tcp_advertise"), std::string::npos);
  EXPECT_NE(lines[1].find("alice.toml:12:7: rendezvous[0].tls"), std::string::npos);
  EXPECT_NE(lines[2].find("alice.toml:14:15: paths.udp_timeout"), std::string::npos);
}

}  // namespace
}  // namespace vpn::config::test
