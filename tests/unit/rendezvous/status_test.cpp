#include "rendezvous/status.hpp"

#include <gtest/gtest.h>

namespace vpn::rendezvous {
namespace {

RendezvousStatus sample() {
  RendezvousStatus st;
  st.sessions = 2;
  st.counters.registrations = 3;
  st.drops = {{"malformed", 4}};
  RegisteredPeerStatus p;
  p.name = "al\"ice";
  p.endpoint = *protocol::Endpoint::parse("198.51.100.7:40001");
  p.candidates.push_back(
      {protocol::CandidateKind::kLocal, *protocol::Endpoint::parse("[fd00::7]:51820")});
  p.addresses.push_back(*protocol::IpPrefix::parse("10.42.0.1/24"));
  p.age_s = 1.5;
  st.peers.push_back(p);
  RegisteredPeerStatus q;
  q.name = "bob";
  q.endpoint = *protocol::Endpoint::parse("192.0.2.9:50123");
  q.tcp = true;
  q.unreachable = true;
  q.nat_type = protocol::NatType::kSymmetric;
  q.relay_channels = 2;
  q.relayed_bytes = 123456;
  st.peers.push_back(q);
  st.counters.relayed_packets = 77;
  st.counters.relayed_bytes = 88000;
  st.counters.relay_binds = 5;
  st.counters.relay_failures = 1;
  return st;
}

TEST(RendezvousStatus, RequestParsing) {
  std::string error;
  EXPECT_EQ(parseStatusRequest("VPNPEER/1 status json", error), StatusFormat::kJson);
  EXPECT_EQ(parseStatusRequest("VPNPEER/1 status", error), StatusFormat::kText);
  EXPECT_EQ(parseStatusRequest("VPNPEER/1 status text", error), StatusFormat::kText);
  EXPECT_FALSE(parseStatusRequest("VPNPEER/1 down", error));
  EXPECT_EQ(error, "VPNPEER/1 ERR unknown command 'down'; known: status\n");
  EXPECT_FALSE(parseStatusRequest("HELLO", error));
  EXPECT_EQ(error.rfind("VPNPEER/1 ERR malformed request", 0), 0u);
  EXPECT_FALSE(parseStatusRequest("VPNPEER/1 status yaml", error));
}

TEST(RendezvousStatus, JsonHasTheFieldsAndEscapes) {
  ServerInfo info;
  info.name = "rv1";
  info.listen = {"primary 0.0.0.0:3478"};
  std::string j = renderStatusJson(info, sample());
  EXPECT_NE(j.find("\"name\":\"rv1\""), std::string::npos);
  EXPECT_NE(j.find("\"sessions\":2"), std::string::npos);
  EXPECT_NE(j.find("\"registrations\":3"), std::string::npos);
  EXPECT_NE(j.find("\"drops\":{\"malformed\":4}"), std::string::npos);
  EXPECT_NE(j.find("\"name\":\"al\\\"ice\""), std::string::npos);
  EXPECT_NE(j.find("{\"kind\":\"local\",\"endpoint\":\"[fd00::7]:51820\"}"), std::string::npos)
      << j;
  EXPECT_NE(j.find("\"addresses\":[\"10.42.0.1/24\"]"), std::string::npos);
  EXPECT_NE(j.find("\"relayed_packets\":77,\"relayed_bytes\":88000,\"relay_binds\":5,"
                   "\"relay_failures\":1"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"transport\":\"udp\",\"unreachable\":false,\"nat_type\":\"unknown\""),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"transport\":\"tcp\",\"unreachable\":true,\"nat_type\":\"symmetric\""),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"relay_channels\":2,\"relayed_bytes\":123456}"), std::string::npos) << j;
  EXPECT_EQ(j.back(), '\n');
  std::string t = renderStatusText(info, sample());
  EXPECT_NE(t.find("peer al\"ice at 198.51.100.7:40001 (udp), nat unknown"), std::string::npos)
      << t;
  EXPECT_NE(t.find("peer bob at 192.0.2.9:50123 (tcp, connection closed), nat symmetric"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("relay channels 2, relayed 123456 bytes"), std::string::npos) << t;
  EXPECT_NE(t.find("relayed_packets=77"), std::string::npos) << t;
  EXPECT_EQ(okResponse("x").rfind("VPNPEER/1 OK\n", 0), 0u);
}

}  // namespace
}  // namespace vpn::rendezvous
