#include <gtest/gtest.h>

#include "config/load.hpp"
#include "tests/unit/config/test_util.hpp"

namespace vpn::config {
namespace {

using namespace std::chrono_literals;
using test::kBase;
using test::withBase;

constexpr std::string_view kExample = R"(# alice's peer file
[peer]
name    = "alice"
address = "10.42.0.1/24"          # a string, or an array for IPv4 and IPv6 ("fd42::1/64")
listen  = "0.0.0.0:51820"         # the ONE UDP port ("[::]:51820" for dual stack)
ca   = "ca.crt"
cert = "alice.crt"
key  = "alice.key"
# optional:
log_level = "info"                # debug|info|warn|error
control_socket = "/run/vpnpeer/alice.sock"   # default: /run/vpnpeer/<peer name>.sock

[tun]
name = "vpn0"                     # default "vpn0"; <= 15 chars, [A-Za-z0-9_.-]
mtu  = 1400                       # default 1400; 576..9000, and >= 1280 if any IPv6 address

[tunnel]                          # optional section, all keys optional
cipher = "auto"                   # auto | aes-256-gcm | chacha20-poly1305
keepalive = 10                    # seconds, 1..3600
rekey = 120                       # seconds between data key updates, 10..86400
dead_peer = 40                    # must exceed 2 x keepalive
cert_expiry_warning_days = 30     # 0..3650

[[peers]]
name     = "bob"
endpoint = "192.0.2.7:51820"      # optional static endpoint ("[2001:db8::7]:51820" for IPv6)
)";

const PeerConfig& mustParse(const ConfigResult& r) {
  if (!r.ok()) {
    std::string all;
    for (const auto& e : r.error()) {
      all += e.toString() + "\n";
    }
    ADD_FAILURE() << "unexpected errors:\n" << all;
    static const PeerConfig kEmpty;
    return kEmpty;
  }
  return r.value();
}

TEST(ParsePeerConfig, ExampleFromTheDocs) {
  auto r = parsePeerConfig(kExample, "/etc/vpnpeer/alice.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_EQ(c.source, "/etc/vpnpeer/alice.toml");
  EXPECT_EQ(c.name, "alice");
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.addresses[0].toString(), "10.42.0.1/24");
  EXPECT_EQ(c.listen.toString(), "0.0.0.0:51820");
  EXPECT_EQ(c.ca, "/etc/vpnpeer/ca.crt");
  EXPECT_EQ(c.cert, "/etc/vpnpeer/alice.crt");
  EXPECT_EQ(c.key, "/etc/vpnpeer/alice.key");
  EXPECT_EQ(c.control_socket, "/run/vpnpeer/alice.sock");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.tun_name, "vpn0");
  EXPECT_EQ(c.mtu, 1400);
  EXPECT_EQ(c.tunnel.cipher, "auto");
  EXPECT_EQ(c.tunnel.keepalive, 10s);
  EXPECT_EQ(c.tunnel.rekey, 120s);
  EXPECT_EQ(c.tunnel.dead_peer, 40s);
  EXPECT_EQ(c.tunnel.cert_expiry_warning_days, 30);
  ASSERT_EQ(c.peers.size(), 1u);
  EXPECT_EQ(c.peers[0].name, "bob");
  ASSERT_TRUE(c.peers[0].endpoint.has_value());
  EXPECT_EQ(c.peers[0].endpoint->toString(), "192.0.2.7:51820");
}

TEST(ParsePeerConfig, MinimalFileGetsDefaults) {
  auto r = parsePeerConfig(kBase, "/etc/vpnpeer/alice.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.control_socket, "/run/vpnpeer/alice.sock");
  EXPECT_EQ(c.tun_name, "vpn0");
  EXPECT_EQ(c.mtu, 1400);
  EXPECT_EQ(c.tunnel.cipher, "auto");
  EXPECT_EQ(c.tunnel.keepalive, 10s);
  EXPECT_EQ(c.tunnel.rekey, 120s);
  EXPECT_EQ(c.tunnel.dead_peer, 40s);
  EXPECT_EQ(c.tunnel.cert_expiry_warning_days, 30);
  EXPECT_TRUE(c.tunnel.udp_gso);
  EXPECT_TRUE(c.tunnel.udp_gro);
  EXPECT_TRUE(c.peers.empty());
}

TEST(ParsePeerConfig, WorkersDefaultToAutoAndTakeACount) {
  EXPECT_EQ(mustParse(parsePeerConfig(std::string(kBase), "a.toml")).tunnel.workers, 0);
  auto r = parsePeerConfig(std::string(kBase) + "\n[tunnel]\nworkers = 4\n", "a.toml");
  EXPECT_EQ(mustParse(r).tunnel.workers, 4);
}

TEST(ParsePeerConfig, OffloadsListReplacesTheDefault) {
  std::string text = std::string(kBase) + "\n[tunnel]\noffloads = [\"udp-gro\"]\n";
  auto r = parsePeerConfig(text, "/etc/vpnpeer/alice.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_FALSE(c.tunnel.udp_gso);
  EXPECT_TRUE(c.tunnel.udp_gro);
  auto none = parsePeerConfig(std::string(kBase) + "\n[tunnel]\noffloads = []\n", "a.toml");
  EXPECT_FALSE(mustParse(none).tunnel.udp_gso);
  EXPECT_FALSE(mustParse(none).tunnel.udp_gro);
  EXPECT_FALSE(mustParse(none).tunnel.tun_tso);
  EXPECT_FALSE(mustParse(none).tunnel.tun_gro);
  EXPECT_FALSE(c.tunnel.tun_tso);
}

TEST(ParsePeerConfig, NonDefaultValues) {
  auto r = parsePeerConfig(R"([peer]
name = "gw-1.site_a"
address = ["10.42.0.1/24", "fd42::1/64"]
listen = "[::]:4500"
ca = "/etc/pki/ca.crt"
cert = "../certs/gw.crt"
key = "./keys/gw.key"
log_level = "debug"
control_socket = "run/gw.sock"
[tun]
name = "wg.tun-0"
mtu = 1280
[tunnel]
cipher = "chacha20-poly1305"
keepalive = 25
rekey = 3600
dead_peer = 51
cert_expiry_warning_days = 0
[[peers]]
name = "bob"
[[peers]]
name = "carol"
endpoint = "[2001:db8::7]:51820"
[[peers]]
name = "dave"
endpoint = "198.51.100.9:1"
)",
                           "/etc/vpnpeer/gw.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_EQ(c.name, "gw-1.site_a");
  ASSERT_EQ(c.addresses.size(), 2u);
  EXPECT_EQ(c.addresses[0].toString(), "10.42.0.1/24");
  EXPECT_EQ(c.addresses[1].toString(), "fd42::1/64");
  EXPECT_EQ(c.listen.toString(), "[::]:4500");
  EXPECT_EQ(c.ca, "/etc/pki/ca.crt");
  EXPECT_EQ(c.cert, "/etc/certs/gw.crt");
  EXPECT_EQ(c.key, "/etc/vpnpeer/keys/gw.key");
  EXPECT_EQ(c.control_socket, "/etc/vpnpeer/run/gw.sock");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.tun_name, "wg.tun-0");
  EXPECT_EQ(c.mtu, 1280);
  EXPECT_EQ(c.tunnel.cipher, "chacha20-poly1305");
  EXPECT_EQ(c.tunnel.keepalive, 25s);
  EXPECT_EQ(c.tunnel.rekey, 3600s);
  EXPECT_EQ(c.tunnel.dead_peer, 51s);
  EXPECT_EQ(c.tunnel.cert_expiry_warning_days, 0);
  ASSERT_EQ(c.peers.size(), 3u);
  EXPECT_EQ(c.peers[0].name, "bob");
  EXPECT_FALSE(c.peers[0].endpoint.has_value());
  EXPECT_EQ(c.peers[1].name, "carol");
  ASSERT_TRUE(c.peers[1].endpoint.has_value());
  EXPECT_EQ(c.peers[1].endpoint->toString(), "[2001:db8::7]:51820");
  EXPECT_EQ(c.peers[2].endpoint->toString(), "198.51.100.9:1");
}

TEST(ParsePeerConfig, InlineTablesAndDottedKeysAreEquivalent) {
  auto r = parsePeerConfig("tun.mtu = 1300\npeers = [{ name = \"bob\" }]\n" + std::string(kBase),
                           "/x/alice.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_EQ(c.mtu, 1300);
  ASSERT_EQ(c.peers.size(), 1u);
  EXPECT_EQ(c.peers[0].name, "bob");
}

TEST(ParsePeerConfig, EmptyPeersArrayIsAllowed) {
  auto r = parsePeerConfig("peers = []\n" + std::string(kBase), "/x/alice.toml");
  EXPECT_TRUE(mustParse(r).peers.empty());
}

TEST(ParsePeerConfig, RelativeSourceGivesRelativePaths) {
  auto r = parsePeerConfig(kBase, "alice.toml");
  const PeerConfig& c = mustParse(r);
  EXPECT_EQ(c.ca, "ca.crt");
  EXPECT_EQ(c.source, "alice.toml");
  auto r2 = parsePeerConfig(kBase, "conf/alice.toml");
  EXPECT_EQ(mustParse(r2).key, "conf/alice.key");
}

TEST(ParsePeerConfig, IpAddressArrayWithSingleEntry) {
  auto text = std::string(kBase);
  text.replace(text.find("\"10.42.0.1/24\""), 14, "[\"fd42::5/64\"]");
  auto r = parsePeerConfig(text, "/x/alice.toml");
  const PeerConfig& c = mustParse(r);
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_TRUE(c.addresses[0].address().isV6());
}

TEST(IsValidPeerName, AcceptsAndRejects) {
  EXPECT_TRUE(isValidPeerName("alice"));
  EXPECT_TRUE(isValidPeerName("0node"));
  EXPECT_TRUE(isValidPeerName("a.b_c-d"));
  EXPECT_TRUE(isValidPeerName(std::string(64, 'a')));
  EXPECT_FALSE(isValidPeerName(""));
  EXPECT_FALSE(isValidPeerName(std::string(65, 'a')));
  EXPECT_FALSE(isValidPeerName("Alice"));
  EXPECT_FALSE(isValidPeerName("-alice"));
  EXPECT_FALSE(isValidPeerName(".alice"));
  EXPECT_FALSE(isValidPeerName("al ice"));
  EXPECT_FALSE(isValidPeerName("al/ice"));
}

TEST(ConfigError, ToStringOmitsMissingParts) {
  EXPECT_EQ((ConfigError{"alice.toml", 3, 1, "peer.adress", "unknown key"}.toString()),
            "alice.toml:3:1: peer.adress: unknown key");
  EXPECT_EQ((ConfigError{"alice.toml", 0, 0, "peer.key", "cannot read x"}.toString()),
            "alice.toml: peer.key: cannot read x");
  EXPECT_EQ((ConfigError{"alice.toml", 2, 7, "", "bad"}.toString()), "alice.toml:2:7: bad");
  EXPECT_EQ((ConfigError{"", 0, 0, "", "bad"}.toString()), "bad");
}

}  // namespace
}  // namespace vpn::config
