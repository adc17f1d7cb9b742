#include "config/rendezvous_config.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace vpn::config {
namespace {

std::vector<std::string> messages(const RendezvousConfigResult& r) {
  std::vector<std::string> out;
  if (!r.ok()) {
    for (const auto& e : r.error()) {
      out.push_back(e.toString());
    }
  }
  return out;
}

TEST(RendezvousConfig, FullFileParses) {
  auto r = parseRendezvousConfig(R"(
[rendezvous]
listen = ["203.0.113.1:3478", "[::]:3478"]
alt_port = 3479
alt_address = "203.0.113.2"
ca = "ca.crt"
cert = "rv1.crt"
key = "/etc/vpnpeer/rv1.key"
refresh = 30
log_level = "debug"
control_socket = "/run/vpnpeer/rendezvous.sock"
lookup_rate = 100
)",
                                 "/etc/vpnpeer/rendezvous.toml");
  ASSERT_TRUE(r.ok()) << messages(r).front();
  const auto& c = *r;
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].toString(), "[::]:3478");
  EXPECT_EQ(c.alt_port, 3479);
  EXPECT_EQ(c.alt_address->toString(), "203.0.113.2");
  EXPECT_EQ(c.stun_listen, 0u);
  EXPECT_EQ(c.ca, "/etc/vpnpeer/ca.crt");
  EXPECT_EQ(c.key, "/etc/vpnpeer/rv1.key");
  EXPECT_EQ(c.refresh, std::chrono::seconds(30));
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.control_socket, "/run/vpnpeer/rendezvous.sock");
  EXPECT_EQ(c.lookup_rate, 100);
  EXPECT_EQ(c.handshake_rate, 2);
}

// The smallest valid file; tests append keys to it.
const std::string base =
    "[rendezvous]\nlisten = \"0.0.0.0:3478\"\nca = \"ca.crt\"\ncert = \"rv.crt\"\nkey = "
    "\"rv.key\"\n";

TEST(RendezvousConfig, NetworkKeyIsCaOrAFile) {
  auto none = parseRendezvousConfig(base, "/etc/vpnpeer/rv.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->network_key_from_ca);
  EXPECT_TRUE(none->network_key_file.empty());
  auto ca = parseRendezvousConfig(base + "network_key = \"ca\"\n", "/etc/vpnpeer/rv.toml");
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(ca->network_key_from_ca);
  auto file =
      parseRendezvousConfig(base + "network_key = \"network.key\"\n", "/etc/vpnpeer/rv.toml");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->network_key_from_ca);
  EXPECT_EQ(file->network_key_file, "/etc/vpnpeer/network.key");
  EXPECT_FALSE(parseRendezvousConfig(base + "network_key = \"\"\n", "rv.toml").ok());
}

TEST(RendezvousConfig, MinimalFileHasDefaults) {
  auto r = parseRendezvousConfig(
      "[rendezvous]\nlisten = \"0.0.0.0:3478\"\nca = \"ca.crt\"\ncert = \"rv.crt\"\nkey = "
      "\"rv.key\"\n",
      "rv.toml");
  ASSERT_TRUE(r.ok()) << messages(r).front();
  EXPECT_EQ(r->refresh, std::chrono::seconds(25));
  EXPECT_EQ(r->log_level, "info");
  EXPECT_FALSE(r->alt_port);
  EXPECT_FALSE(r->control_socket);
}

TEST(RendezvousConfig, CookielessRateCanBeTurnedOff) {
  auto d = parseRendezvousConfig(base, "rv.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->cookieless_rate, 8);
  EXPECT_EQ(d->cookieless_burst, 16);
  auto off = parseRendezvousConfig(base + "cookieless_rate = 0\ncookieless_burst = 4\n", "rv.toml");
  ASSERT_TRUE(off.ok()) << messages(off).front();
  EXPECT_EQ(off->cookieless_rate, 0);
  EXPECT_EQ(off->cookieless_burst, 4);
  auto bad = parseRendezvousConfig(base + "cookieless_burst = 0\n", "rv.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(messages(bad).front().find("cookieless_burst"), std::string::npos)
      << messages(bad).front();
}

TEST(RendezvousConfig, ReportsEveryErrorWithPositionAndSuggestion) {
  auto r = parseRendezvousConfig(R"([rendezvous]
listen = ["0.0.0.0:3478", "nonsense", 5]
cert = "rv.crt"
key = "rv.key"
refrsh = 20
log_level = "warning"
alt_port = 70000
)",
                                 "rv.toml");
  auto m = messages(r);
  ASSERT_EQ(m.size(), 6u) << ::testing::PrintToString(m);
  EXPECT_EQ(m[0], "rv.toml:1:1: rendezvous.ca: missing required key");
  EXPECT_NE(m[1].find("rv.toml:2:27: rendezvous.listen[1]: expected address:port"),
            std::string::npos);
  EXPECT_EQ(m[2], "rv.toml:2:39: rendezvous.listen[2]: expected a string, got an integer");
  EXPECT_EQ(m[3], "rv.toml:5:1: rendezvous.refrsh: unknown key (did you mean 'refresh'?)");
  EXPECT_NE(m[4].find("rv.toml:6:13: rendezvous.log_level:"), std::string::npos);
  EXPECT_NE(m[4].find("did you mean 'warn'"), std::string::npos);
  EXPECT_EQ(m[5], "rv.toml:7:12: rendezvous.alt_port: must be between 1 and 65535, got 70000");
}

TEST(RendezvousConfig, ChangeIpNeedsASpecificPrimaryAddress) {
  auto r = parseRendezvousConfig(R"([rendezvous]
listen = "0.0.0.0:3478"
alt_address = "203.0.113.2"
ca = "ca.crt"
cert = "rv.crt"
key = "rv.key"
)",
                                 "rv.toml");
  auto m = messages(r);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("rv.toml:3:15: rendezvous.alt_address: needs a listen entry with a specific "
                      "IPv4 address"),
            std::string::npos)
      << m[0];
}

TEST(RendezvousConfig, MisplacedKeysAndMissingTable) {
  auto r = parseRendezvousConfig("listen = \"0.0.0.0:3478\"\n[rendezvos]\n", "rv.toml");
  auto m = messages(r);
  ASSERT_EQ(m.size(), 3u) << ::testing::PrintToString(m);
  EXPECT_EQ(m[0], "rv.toml:1:1: listen: unknown key ('listen' belongs in the [rendezvous] section)");
  EXPECT_EQ(m[1], "rv.toml:1:1: rendezvous: missing required table [rendezvous]");
  EXPECT_EQ(m[2], "rv.toml:2:2: rendezvos: unknown table (did you mean 'rendezvous'?)");
}

TEST(RendezvousConfig, SyntaxErrorAndUnreadableFile) {
  auto r = parseRendezvousConfig("[rendezvous\n", "rv.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().front().file, "rv.toml");
  EXPECT_GT(r.error().front().line, 0);
  auto missing = loadRendezvousConfig("/nonexistent/rv.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().front().toString(),
            "/nonexistent/rv.toml: cannot read /nonexistent/rv.toml: No such file or directory");
}

TEST(RendezvousConfig, LoadResolvesPathsAgainstTheFile) {
  auto dir = std::filesystem::temp_directory_path() / "vpnpeer-rvcfg-test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "rv.toml");
    f << "[rendezvous]\nlisten = \"127.0.0.1:0\"\nca = \"ca.crt\"\ncert = \"rv.crt\"\nkey = "
         "\"rv.key\"\n";
  }
  auto r = loadRendezvousConfig(dir / "rv.toml");
  ASSERT_TRUE(r.ok()) << messages(r).front();
  EXPECT_EQ(r->ca, dir / "ca.crt");
  EXPECT_EQ(r->source, dir / "rv.toml");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vpn::config
