// What a reload of the peer file may apply live and what it reports as needing a restart.
#include "client/config_reload.hpp"

#include <gtest/gtest.h>

#include "config/peer_config.hpp"

namespace vpn::client {
namespace {

config::PeerConfig base() {
  config::PeerConfig c;
  c.name = "alice";
  c.listen = *protocol::Endpoint::parse("0.0.0.0:51820");
  c.peers = {{"bob", std::nullopt}};
  return c;
}

TEST(ConfigReload, LiveChangesNeedNoRestart) {
  auto a = base();
  auto b = base();
  b.peers.push_back({"carol", protocol::Endpoint::parse("192.0.2.1:51820")});
  config::RendezvousEntry rv;
  rv.host = "rv.example.net";
  rv.port = 3478;
  b.rendezvous.push_back(rv);
  b.blocklist = {"00ff"};
  b.cert = "/etc/vpnpeer/alice-2027.crt";
  b.log_level = "debug";
  b.tunnel.cipher = "chacha20-poly1305";
  b.tunnel.cert_expiry_warning_days = 10;
  EXPECT_TRUE(restartOnlyChanges(a, b).empty());
}

TEST(ConfigReload, FixedKeysAreNamed) {
  auto a = base();
  auto b = base();
  b.listen = *protocol::Endpoint::parse("0.0.0.0:51821");
  b.mtu = 1280;
  b.tunnel.rekey = std::chrono::seconds(60);
  b.network_key = config::NetworkKeySetting{true, {}};
  b.nat.port_mapping = false;
  auto keys = restartOnlyChanges(a, b);
  EXPECT_EQ(keys, (std::vector<std::string>{"[peer] listen", "[peer] network_key", "[tun] mtu",
                                            "[tunnel] rekey", "[nat] port_mapping"}));
  keys.pop_back();
  EXPECT_EQ(joinKeys(keys), "[peer] listen, [peer] network_key, [tun] mtu and [tunnel] rekey");
  EXPECT_EQ(joinKeys({"[peer] user"}), "[peer] user");
}

}  // namespace
}  // namespace vpn::client
