#include "client/status_render.hpp"

#include <gtest/gtest.h>

#include "tests/unit/client/json_check.hpp"
#include "tests/unit/client/status_fixtures.hpp"

namespace vpn::client {
namespace {

using test::Json;

const Instant kNow = Instant{} + std::chrono::hours(5);

DaemonInfo info() {
  DaemonInfo i;
  i.name = "alice";
  i.listen = "0.0.0.0:51820";
  i.tun = "vpn0";
  i.addresses = {"10.42.0.1/24"};
  i.uptime_s = 60;
  return i;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Json parsed(const std::string& text) {
  auto j = test::parseJson(text);
  EXPECT_TRUE(j) << "not JSON: " << text;
  return j ? *j : Json{};
}

TEST(StatusText, RelayedPeerShowsRelayChannelReasonAndNatTypes) {
  auto t = renderStatusText(info(), test::symmetricBothRelayed(kNow), kNow);
  EXPECT_TRUE(has(t,
                  "vpnpeer alice: 10.42.0.1/24 on vpn0, listening on UDP 0.0.0.0:51820, "
                  "NAT symmetric\n"))
      << t;
  EXPECT_TRUE(has(t,
                  "  state:          established (relay-udp via 198.51.100.1:3478, channel "
                  "4711)\n"))
      << t;
  EXPECT_TRUE(has(t, "  rtt:            23.40 ms\n")) << t;
  EXPECT_TRUE(has(t,
                  "  reason:         direct path failed: no probe reply from 2 candidates in "
                  "2 s; relayed through 198.51.100.1:3478\n"))
      << t;
  EXPECT_TRUE(has(t, "  nat type:       symmetric\n")) << t;
  EXPECT_TRUE(has(t, "  direct retry:   in 12 s\n")) << t;
  EXPECT_TRUE(has(t, "  last change:    none -> relay-udp, 41 s ago: no direct path after 2 s\n"))
      << t;
  // While relayed the channel is in the state line; no separate standby line.
  EXPECT_FALSE(has(t, "  relay:")) << t;
  EXPECT_TRUE(has(t, "  transport:      udp\n  tcp fallback:   none\n  relay channels: 1\n")) << t;
}

TEST(StatusText, RelayOverTcpAndRendezvousTransport) {
  auto t = renderStatusText(info(), test::udpBlockedOverTcp(kNow), kNow);
  EXPECT_TRUE(has(t, "NAT udp-blocked\n")) << t;
  EXPECT_TRUE(has(t, "(relay-tcp via 198.51.100.1:3478, channel 9)\n")) << t;
  EXPECT_TRUE(has(t, "  nat type:       port-restricted-cone\n")) << t;
  EXPECT_TRUE(has(t, "  transport:      tcp\n  tcp fallback:   198.51.100.1:443\n")) << t;
}

TEST(StatusText, DirectPeerShowsPathAloneAndStandbyRelay) {
  auto t = renderStatusText(info(), test::directAfterUpgrade(kNow), kNow);
  EXPECT_TRUE(has(t, "  state:          established (direct-udp)\n")) << t;
  EXPECT_TRUE(has(t, "  endpoint:       203.0.113.9:40211\n")) << t;
  EXPECT_TRUE(has(t, "  relay:          standby via 198.51.100.1:3478, channel 7\n")) << t;
  EXPECT_TRUE(has(t,
                  "  last change:    relay-udp -> direct-udp, 5 s ago: probe reply from "
                  "203.0.113.9:40211\n"))
      << t;
  EXPECT_FALSE(has(t, "direct retry")) << t;
}

TEST(StatusText, ConnectingPeerWithoutPathOrRelay) {
  EngineStatus s;
  PeerStatus p = test::basePeer("frank");
  p.state = "connecting";
  p.path = "none";
  p.rtt.reset();
  s.peers.push_back(p);
  auto t = renderStatusText(info(), s, kNow);
  EXPECT_TRUE(has(t, "  state:          connecting\n")) << t;
  EXPECT_TRUE(has(t, "  nat type:       unknown\n")) << t;
  EXPECT_TRUE(has(t, "NAT unknown\n")) << t;
  EXPECT_FALSE(has(t, "relay")) << t;
}

TEST(StatusJson, RelayedPeerFields) {
  auto j = parsed(renderStatusJson(info(), test::symmetricBothRelayed(kNow), kNow));
  EXPECT_EQ(j["version"].num, 1);
  EXPECT_EQ(j["nat_type"].str, "symmetric");
  const Json& p = j["peers"][0];
  EXPECT_EQ(p["path"].str, "relay-udp");
  EXPECT_EQ(p["endpoint"].str, "198.51.100.1:3478");
  EXPECT_EQ(p["relay"].str, "198.51.100.1:3478");
  EXPECT_EQ(p["relay_channel"].num, 4711);
  EXPECT_EQ(p["relay_state"].str, "bound");
  EXPECT_EQ(p["path_reason"].str,
            "direct path failed: no probe reply from 2 candidates in 2 s; relayed through "
            "198.51.100.1:3478");
  EXPECT_EQ(p["nat_type"].str, "symmetric");
  EXPECT_DOUBLE_EQ(p["rtt_ms"].num, 23.4);
  EXPECT_DOUBLE_EQ(p["direct_retry_in_s"].num, 12.0);
  ASSERT_EQ(p["history"].items.size(), 1u);
  EXPECT_DOUBLE_EQ(p["history"][0]["s_ago"].num, 41.0);
  EXPECT_EQ(p["history"][0]["from"].str, "none");
  EXPECT_EQ(p["history"][0]["to"].str, "relay-udp");
  EXPECT_EQ(p["history"][0]["reason"].str, "no direct path after 2 s");
  EXPECT_EQ(p["candidates"][1]["kind"].str, "reflexive");
  EXPECT_EQ(p["candidates"][1]["probes_sent"].num, 4);
  const Json& r = j["rendezvous"][0];
  EXPECT_EQ(r["transport"].str, "udp");
  EXPECT_EQ(r["tcp"].kind, Json::Kind::kNull);
  EXPECT_TRUE(r.has("tcp"));
  EXPECT_EQ(r["relay_channels"].num, 1);
}

TEST(StatusJson, DirectPeerHasNullRelayAndRetry) {
  EngineStatus s = test::directAfterUpgrade(kNow);
  s.peers[0].relay.reset();
  s.peers[0].relay_channel = 0;
  s.peers[0].relay_state = "none";
  auto j = parsed(renderStatusJson(info(), s, kNow));
  const Json& p = j["peers"][0];
  EXPECT_EQ(p["path"].str, "direct-udp");
  EXPECT_EQ(p["relay"].kind, Json::Kind::kNull);
  EXPECT_TRUE(p.has("relay"));
  EXPECT_EQ(p["relay_channel"].num, 0);
  EXPECT_EQ(p["relay_state"].str, "none");
  EXPECT_TRUE(p.has("direct_retry_in_s"));
  EXPECT_EQ(p["direct_retry_in_s"].kind, Json::Kind::kNull);
  ASSERT_EQ(p["history"].items.size(), 2u);
  EXPECT_EQ(p["history"][1]["to"].str, "direct-udp");
  EXPECT_DOUBLE_EQ(p["history"][1]["s_ago"].num, 5.0);
}

TEST(StatusJson, TcpRendezvousAndEveryVersion1FieldKept) {
  auto j = parsed(renderStatusJson(info(), test::udpBlockedOverTcp(kNow), kNow));
  EXPECT_EQ(j["rendezvous"][0]["transport"].str, "tcp");
  EXPECT_EQ(j["rendezvous"][0]["tcp"].str, "198.51.100.1:443");
  EXPECT_EQ(j["peers"][0]["path"].str, "relay-tcp");
  // Fields are only added while version is 1: the earlier ones must all still be there.
  for (const char* k : {"version", "name", "listen", "tun", "addresses", "uptime_s", "peers",
                        "rendezvous", "drops", "nat_type"}) {
    EXPECT_TRUE(j.has(k)) << k;
  }
  for (const char* k : {"name",       "state",         "endpoint",         "path",
                        "rtt_ms",     "addresses",     "cipher",           "tx_bytes",
                        "rx_bytes",   "tx_packets",    "rx_packets",       "last_handshake_s_ago",
                        "handshakes", "key_updates",   "last_error",       "candidates",
                        "relay",      "relay_channel", "relay_state",      "path_reason",
                        "nat_type",   "history",       "direct_retry_in_s"}) {
    EXPECT_TRUE(j["peers"][0].has(k)) << k;
  }
  for (const char* k : {"endpoint", "state", "registered", "reflexive", "rtt_ms", "last_error",
                        "transport", "relay_channels"}) {
    EXPECT_TRUE(j["rendezvous"][0].has(k)) << k;
  }
}

TEST(StatusJson, HistoryInTheFutureCountsAsNow) {
  EngineStatus s = test::demotedWithHistory(kNow);
  s.peers[0].history.back().at = kNow + std::chrono::seconds(3);
  s.peers[0].direct_retry_at = kNow - std::chrono::seconds(3);
  auto j = parsed(renderStatusJson(info(), s, kNow));
  EXPECT_DOUBLE_EQ(j["peers"][0]["history"][1]["s_ago"].num, 0.0);
  EXPECT_DOUBLE_EQ(j["peers"][0]["direct_retry_in_s"].num, 0.0);
}

TEST(JsonCheck, RejectsMalformedText) {
  for (const char* bad : {"", "{", "{\"a\":1,}", "[1 2]", "{\"a\":01}", "\"x", "{\"a\":1,\"a\":2}",
                          "nul", "[1.]", "{} x"}) {
    EXPECT_FALSE(test::parseJson(bad)) << bad;
  }
  auto ok = test::parseJson(R"( {"a":[1,-2.5e3,true,null,"q\"\u0041"]} )");
  ASSERT_TRUE(ok);
  EXPECT_DOUBLE_EQ((*ok)["a"][1].num, -2500.0);
  EXPECT_EQ((*ok)["a"][4].str, "q\"\\u0041");
}

}  // namespace
}  // namespace vpn::client

namespace vpn::client {
namespace {

TEST(StatusPortMapping, MappedUnavailableAndOff) {
  DaemonInfo i = info();
  i.port_mapping.state = "mapped";
  i.port_mapping.protocol = MapProtocol::kPcp;
  i.port_mapping.gateway = protocol::IpAddress::parse("192.168.1.1");
  i.port_mapping.external = protocol::Endpoint::parse("203.0.113.5:60001");
  i.port_mapping.lifetime = std::chrono::seconds(7200);
  i.port_mapping.renew_at = kNow + std::chrono::seconds(3600);
  auto t = renderStatusText(i, test::directAfterUpgrade(kNow), kNow);
  EXPECT_TRUE(has(t, "port mapping: pcp maps 203.0.113.5:60001 (gateway 192.168.1.1, renewed in "
                     "3600 s)\n"))
      << t;
  auto j = parsed(renderStatusJson(i, test::directAfterUpgrade(kNow), kNow));
  const Json& pm = j["port_mapping"];
  EXPECT_EQ(pm["state"].str, "mapped");
  EXPECT_EQ(pm["protocol"].str, "pcp");
  EXPECT_EQ(pm["gateway"].str, "192.168.1.1");
  EXPECT_EQ(pm["external"].str, "203.0.113.5:60001");
  EXPECT_EQ(pm["lifetime_s"].num, 7200);
  EXPECT_DOUBLE_EQ(pm["next_in_s"].num, 3600.0);

  i.port_mapping.state = "unavailable";
  i.port_mapping.protocol = MapProtocol::kNone;
  i.port_mapping.external.reset();
  i.port_mapping.last_error = "NAT-PMP: refused (not authorized)";
  i.port_mapping.renew_at = kNow + std::chrono::seconds(300);
  t = renderStatusText(i, test::directAfterUpgrade(kNow), kNow);
  EXPECT_TRUE(has(t, "port mapping: none (gateway 192.168.1.1: NAT-PMP: refused (not "
                     "authorized); trying again in 300 s)\n"))
      << t;
  j = parsed(renderStatusJson(i, test::directAfterUpgrade(kNow), kNow));
  EXPECT_EQ(j["port_mapping"]["external"].kind, Json::Kind::kNull);
  EXPECT_EQ(j["port_mapping"]["lifetime_s"].kind, Json::Kind::kNull);

  t = renderStatusText(info(), test::directAfterUpgrade(kNow), kNow);
  EXPECT_TRUE(has(t, "port mapping: off\n")) << t;
  j = parsed(renderStatusJson(info(), test::directAfterUpgrade(kNow), kNow));
  EXPECT_EQ(j["port_mapping"]["state"].str, "off");
  EXPECT_EQ(j["port_mapping"]["next_in_s"].kind, Json::Kind::kNull);
}

}  // namespace
}  // namespace vpn::client
