#include "client/explain_render.hpp"

#include <gtest/gtest.h>

#include "client/control_protocol.hpp"
#include "tests/unit/client/json_check.hpp"
#include "tests/unit/client/status_fixtures.hpp"

namespace vpn::client {
namespace {

using test::Json;

const Instant kNow = Instant{} + std::chrono::hours(5);

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The advice paragraph, which ends the text, joined back into one line to compare sentences.
std::string advice(const std::string& text) {
  const std::string head = "\nwhat would make it direct\n";
  auto at = text.find(head);
  if (at == std::string::npos) {
    return "(no advice section)";
  }
  std::string r;
  for (std::size_t i = at + head.size(); i < text.size(); ++i) {
    if (text.compare(i, 3, "\n  ") == 0) {
      r += ' ';
      i += 2;
    } else if (text[i] != '\n') {
      r += text[i];
    }
  }
  // Drop the indent of the first line.
  return r.starts_with("  ") ? r.substr(2) : r;
}

TEST(Explain, SymmetricBothSidesRelayed) {
  auto s = test::symmetricBothRelayed(kNow);
  auto t = renderExplain(s, "bob", kNow);
  EXPECT_EQ(t.rfind("bob is on relay-udp: relayed over UDP through 198.51.100.1:3478, channel "
                    "4711, rtt 23.40 ms\n",
                    0),
            0u)
      << t;
  EXPECT_TRUE(has(t, "why: direct path failed: no probe reply from 2 candidates in 2 s;")) << t;
  EXPECT_TRUE(has(t, "  this side: symmetric (a new public port for every destination)\n")) << t;
  EXPECT_TRUE(has(t, "  bob:       symmetric (a new public port for every destination)\n")) << t;
  EXPECT_TRUE(has(t, "  192.168.1.7:51820 (local): failed: no reply to 4 probes\n")) << t;
  EXPECT_TRUE(has(t, "  203.0.113.9:40211 (reflexive): failed: no reply to 4 probes\n")) << t;
  EXPECT_TRUE(has(t,
                  "  bound: channel 4711 through 198.51.100.1:3478 over udp (carrying the "
                  "session)\n"))
      << t;
  EXPECT_TRUE(has(t, "  next direct attempt: in 12 s\n")) << t;
  EXPECT_TRUE(has(t, "  41 s ago    none -> relay-udp: no direct path after 2 s\n")) << t;
  EXPECT_EQ(advice(t),
            "Both sides are behind symmetric NATs, which give a "
            "new port for every destination, so no hole can be punched; a direct path needs "
            "one side with an endpoint-independent NAT (full, restricted or port-restricted "
            "cone), a public address, a port mapping from either router (PCP or NAT-PMP, asked "
            "for by default: [nat] port_mapping), or a forwarded UDP port given as an endpoint "
            "in the other peer's file.")
      << t;
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "symmetric-both");
  EXPECT_FALSE(has(t, "port mapping on this side")) << "not known: not shown";
  auto with_mapping = s;
  with_mapping.port_mapping = "none (gateway 10.0.1.1: no answer to NAT-PMP from 10.0.1.1)";
  auto t2 = renderExplain(with_mapping, "bob", kNow);
  EXPECT_TRUE(has(t2, "  bob:       symmetric (a new public port for every destination)\n"
                      "  port mapping on this side: none (gateway 10.0.1.1: no answer to "
                      "NAT-PMP from 10.0.1.1)\n"))
      << t2;
  auto j = test::parseJson(renderExplainJson(with_mapping, "bob", kNow));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["port_mapping"].str, with_mapping.port_mapping);
}

TEST(Explain, AdviceIsWrappedToReadableLines) {
  auto t = renderExplain(test::symmetricBothRelayed(kNow), "bob", kNow);
  std::size_t start = 0;
  while (start < t.size()) {
    auto nl = t.find('\n', start);
    ASSERT_NE(nl, std::string::npos) << "output must end with a newline";
    EXPECT_LE(nl - start, 110u) << t.substr(start, nl - start);
    start = nl + 1;
  }
}

TEST(Explain, UdpBlockedRelayedOverTcp) {
  auto s = test::udpBlockedOverTcp(kNow);
  auto t = renderExplain(s, "carol", kNow);
  EXPECT_EQ(
      t.rfind("carol is on relay-tcp: relayed over TCP through 198.51.100.1:3478, channel 9", 0),
      0u)
      << t;
  EXPECT_TRUE(has(t, "  this side: udp-blocked (UDP gets no answer from outside)\n")) << t;
  EXPECT_TRUE(has(t, "channel 9 through 198.51.100.1:3478 over tcp (carrying the session)")) << t;
  EXPECT_EQ(advice(t),
            "UDP is blocked on this network; allow outbound UDP, or make one side "
            "accept TCP (peer.tcp_listen with a public address or tcp_advertise).")
      << t;
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "udp-blocked");
}

TEST(Explain, UdpBlockedIsInferredWhenEveryRendezvousIsOverTcp) {
  auto s = test::udpBlockedOverTcp(kNow);
  s.nat_type = "unknown";
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "udp-blocked");
  s.rendezvous.push_back(test::rendezvous("udp", 0));
  EXPECT_NE(adviseDirect(s, s.peers[0], kNow).code, "udp-blocked");
}

TEST(Explain, UdpBlockedOnThePeersSide) {
  auto s = test::symmetricBothRelayed(kNow);
  s.nat_type = "full-cone";
  s.peers[0].nat_type = "udp-blocked";
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "udp-blocked");
  EXPECT_EQ(a.advice.rfind("UDP is blocked on bob's network;", 0), 0u) << a.advice;
}

TEST(Explain, DirectAfterUpgrade) {
  auto s = test::directAfterUpgrade(kNow);
  auto t = renderExplain(s, "dave", kNow);
  EXPECT_EQ(
      t.rfind("dave is on direct-udp: direct over UDP to 203.0.113.9:40211, rtt 23.40 ms\n", 0), 0u)
      << t;
  EXPECT_TRUE(has(t, "  203.0.113.9:40211 (reflexive): answered: 2 replies to 3 probes\n")) << t;
  EXPECT_TRUE(has(t,
                  "  bound: channel 7 through 198.51.100.1:3478 over udp (standby, ready for a "
                  "demotion or a move)\n"))
      << t;
  EXPECT_TRUE(has(t,
                  "  30 s ago    none -> relay-udp: no direct path after 2 s\n"
                  "  5 s ago     relay-udp -> direct-udp: probe reply from 203.0.113.9:40211\n"))
      << t;
  EXPECT_TRUE(has(t, "\nwhat would make it direct\n  Already direct.\n")) << t;
  EXPECT_EQ(advice(t), "Already direct.");
  EXPECT_FALSE(has(t, "next direct attempt")) << t;
}

TEST(Explain, StaticEndpointWithoutRendezvous) {
  EngineStatus s;
  PeerStatus p = test::basePeer("ivy");
  p.path = "direct-udp";
  p.endpoint = test::ep("192.0.2.7:51820");
  p.candidates.push_back(test::candidate("192.0.2.7:51820", "static", "succeeded", 0, 0));
  s.peers.push_back(p);
  auto t = renderExplain(s, "ivy", kNow);
  EXPECT_TRUE(has(t, "  this side: unknown (found out through a rendezvous; none is in use)\n"))
      << t;
  EXPECT_TRUE(has(t, "  ivy:       unknown (found out through a rendezvous; none is in use)\n"))
      << t;
  EXPECT_TRUE(has(t, "  192.0.2.7:51820 (static): succeeded (reached without probes")) << t;
}

TEST(Explain, DirectOverTcpIsAlreadyDirect) {
  auto s = test::directAfterUpgrade(kNow);
  s.peers[0].path = "direct-tcp";
  auto t = renderExplain(s, "dave", kNow);
  EXPECT_EQ(t.rfind("dave is on direct-tcp: direct over TCP to 203.0.113.9:40211", 0), 0u) << t;
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "already-direct");
}

TEST(Explain, DemotedPathIsHeldDown) {
  auto s = test::demotedWithHistory(kNow);
  auto t = renderExplain(s, "erin", kNow);
  EXPECT_TRUE(has(t, "why: direct path silent for 4 s; demoted to the relay\n")) << t;
  EXPECT_TRUE(has(t,
                  "  203.0.113.30:51820 (reflexive): failed: 5 replies to 9 probes, then "
                  "silent\n"))
      << t;
  EXPECT_TRUE(has(t,
                  "  5 min ago   none -> direct-udp: probe reply from 203.0.113.30:51820\n"
                  "  20 s ago    direct-udp -> relay-udp: no authenticated packet for 4 s\n"))
      << t;
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "held-down");
  EXPECT_TRUE(has(a.advice,
                  "the direct path (direct-udp) was demoted 20 s ago (no authenticated "
                  "packet for 4 s)"))
      << a.advice;
  EXPECT_TRUE(has(a.advice, "the next direct attempt is in 10 s")) << a.advice;
  // A demotion long past no longer explains the relay.
  s.peers[0].history.back().at = kNow - std::chrono::minutes(30);
  EXPECT_NE(adviseDirect(s, s.peers[0], kNow).code, "held-down");
}

TEST(Explain, PortRestrictedWithSymmetricNamesBothSides) {
  auto s = test::symmetricBothRelayed(kNow);
  s.nat_type = "port-restricted-cone";
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "symmetric-port-restricted");
  EXPECT_EQ(a.advice.rfind("bob is behind a symmetric NAT, which gives a new port for every "
                           "destination, and this side behind a port-restricted cone NAT",
                           0),
            0u)
      << a.advice;
  EXPECT_TRUE(has(a.advice, "or behind a router that maps its port (PCP or NAT-PMP: [nat] "
                            "port_mapping)"))
      << a.advice;
  // Restricted cone filters on the address only, so the same pair can punch.
  s.nat_type = "restricted-cone";
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "no-reply");
}

TEST(Explain, CompatibleNatsButNoReplyBlamesTheFirewall) {
  auto s = test::symmetricBothRelayed(kNow);
  s.nat_type = "full-cone";
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "no-reply");
  EXPECT_EQ(a.advice,
            "the NAT types allow a direct path; none of the 2 candidates answered any of 8 probes: "
            "a firewall between the sites may drop UDP, or a NAT behaves differently from what "
            "discovery found; direct attempts go on in the background; the next direct attempt "
            "is in 12 s");
}

TEST(Explain, UnknownNatTypeSaysSoAndFallsBackToCandidates) {
  auto s = test::symmetricBothRelayed(kNow);
  s.peers[0].nat_type = "unknown";
  auto t = renderExplain(s, "bob", kNow);
  EXPECT_TRUE(has(t, "  bob:       unknown (its introduction did not say")) << t;
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "nat-unknown");
  EXPECT_EQ(a.advice.rfind("bob's NAT type is not known, so the NAT types cannot tell", 0), 0u)
      << a.advice;
  EXPECT_TRUE(has(a.advice, "none of the 2 candidates answered any of 8 probes")) << a.advice;
}

TEST(Explain, ConnectingPeerBeingProbed) {
  EngineStatus s;
  s.nat_type = "full-cone";
  PeerStatus p = test::basePeer("gus");
  p.state = "connecting";
  p.path = "none";
  p.rtt.reset();
  p.nat_type = "restricted-cone";
  p.candidates.push_back(test::candidate("203.0.113.40:51820", "reflexive", "probing", 2, 0));
  p.candidates.push_back(test::candidate("[2001:db8::40]:51820", "local", "untried", 0, 0));
  p.relay_state = "requested";
  p.relay = test::ep("198.51.100.1:3478");
  s.peers.push_back(p);
  auto t = renderExplain(s, "gus", kNow);
  EXPECT_EQ(t.rfind("gus is not connected yet (connecting:", 0), 0u) << t;
  EXPECT_TRUE(
      has(t, "  203.0.113.40:51820 (reflexive): probing: 2 probes sent, 0 replies so far\n"))
      << t;
  EXPECT_TRUE(has(t, "  [2001:db8::40]:51820 (local): not tried yet\n")) << t;
  EXPECT_TRUE(has(t,
                  "  requested through 198.51.100.1:3478, waiting for the rendezvous to bind a "
                  "channel\n"))
      << t;
  EXPECT_TRUE(has(t, "recent path changes (oldest first)\n  none yet\n")) << t;
  auto a = adviseDirect(s, s.peers[0], kNow);
  EXPECT_EQ(a.code, "trying");
  EXPECT_TRUE(has(a.advice, "(1 of 2 candidates probed so far)")) << a.advice;
}

TEST(Explain, IdleAndCandidateLessPeers) {
  EngineStatus s;
  PeerStatus p = test::basePeer("hal");
  p.state = "idle";
  p.path = "none";
  p.rtt.reset();
  s.peers.push_back(p);
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "not-reachable");
  auto t = renderExplain(s, "hal", kNow);
  EXPECT_TRUE(has(t, "  none known (no introduction from a rendezvous yet")) << t;
  EXPECT_TRUE(has(t, "\nrelay\n  none bound\n")) << t;
  s.peers[0].state = "unreachable";
  s.nat_type = "full-cone";
  s.peers[0].nat_type = "full-cone";
  EXPECT_EQ(adviseDirect(s, s.peers[0], kNow).code, "no-candidates");
}

TEST(Explain, FailedRelayIsShown) {
  auto s = test::symmetricBothRelayed(kNow);
  auto& p = s.peers[0];
  p.state = "unreachable";
  p.path = "none";
  p.relay_channel = 0;
  p.relay_state = "failed: relaying disabled";
  auto t = renderExplain(s, "bob", kNow);
  EXPECT_TRUE(has(t, "\nrelay\n  failed: relaying disabled through 198.51.100.1:3478\n")) << t;
  EXPECT_EQ(t.rfind("bob is unreachable (", 0), 0u) << t;
}

TEST(Explain, UnknownPeerListsNamesAndSuggests) {
  auto s = test::symmetricBothRelayed(kNow);
  s.peers.push_back(test::basePeer("carol"));
  EXPECT_FALSE(unknownPeerError(s, "bob"));
  auto t = renderExplain(s, "bobb", kNow);
  EXPECT_EQ(t, "no peer named 'bobb' (did you mean 'bob'?); the peers are: bob, carol\n");
  EXPECT_EQ(renderExplain(s, "zzzzzz", kNow),
            "no peer named 'zzzzzz'; the peers are: bob, carol\n");
  EXPECT_EQ(renderExplain(EngineStatus{}, "bob", kNow),
            "no peer named 'bob'; this daemon has no peers configured\n");
  auto j = test::parseJson(renderExplainJson(s, "bobb", kNow));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["version"].num, 1);
  EXPECT_EQ((*j)["error"].str,
            "no peer named 'bobb' (did you mean 'bob'?); the peers are: bob, "
            "carol");
  EXPECT_FALSE(j->has("peer"));
}

TEST(ExplainJson, SameFactsAsTheText) {
  auto s = test::demotedWithHistory(kNow);
  auto j = test::parseJson(renderExplainJson(s, "erin", kNow));
  ASSERT_TRUE(j);
  const Json& e = *j;
  EXPECT_EQ(e["version"].num, 1);
  EXPECT_EQ(e["peer"].str, "erin");
  EXPECT_EQ(e["state"].str, "established");
  EXPECT_EQ(e["path"].str, "relay-udp");
  EXPECT_EQ(e["endpoint"].str, "198.51.100.1:3478");
  EXPECT_DOUBLE_EQ(e["rtt_ms"].num, 23.4);
  EXPECT_EQ(e["path_reason"].str, "direct path silent for 4 s; demoted to the relay");
  EXPECT_EQ(e["our_nat_type"].str, "port-restricted-cone");
  EXPECT_EQ(e["peer_nat_type"].str, "restricted-cone");
  EXPECT_EQ(e["candidates"][0]["replies"].num, 5);
  EXPECT_EQ(e["relay"]["endpoint"].str, "198.51.100.1:3478");
  EXPECT_EQ(e["relay"]["channel"].num, 12);
  EXPECT_EQ(e["relay"]["state"].str, "bound");
  EXPECT_EQ(e["relay"]["transport"].str, "udp");
  EXPECT_DOUBLE_EQ(e["direct_retry_in_s"].num, 10.0);
  ASSERT_EQ(e["history"].items.size(), 2u);
  EXPECT_DOUBLE_EQ(e["history"][1]["s_ago"].num, 20.0);
  EXPECT_EQ(e["history"][1]["from"].str, "direct-udp");
  EXPECT_EQ(e["blocker"].str, "held-down");
  EXPECT_EQ(e["advice"].str, adviseDirect(s, s.peers[0], kNow).advice);
}

TEST(ExplainJson, DirectPeerWithoutRelayHasNulls) {
  auto s = test::directAfterUpgrade(kNow);
  s.peers[0].relay.reset();
  s.peers[0].relay_state = "none";
  s.peers[0].relay_channel = 0;
  s.peers[0].rtt.reset();
  auto j = test::parseJson(renderExplainJson(s, "dave", kNow));
  ASSERT_TRUE(j);
  EXPECT_TRUE((*j)["relay"]["endpoint"].isNull());
  EXPECT_TRUE((*j)["relay"]["transport"].isNull());
  EXPECT_TRUE((*j)["rtt_ms"].isNull());
  EXPECT_TRUE((*j)["direct_retry_in_s"].isNull());
  EXPECT_TRUE(j->has("direct_retry_in_s"));
  EXPECT_EQ((*j)["blocker"].str, "already-direct");
}

TEST(ExplainResponse, FramesTextJsonAndErrors) {
  auto s = test::symmetricBothRelayed(kNow);
  auto text = parseResponse(explainResponse(s, "bob", kNow));
  ASSERT_TRUE(text.ok) << text.body;
  EXPECT_EQ(text.body, renderExplain(s, "bob", kNow));
  auto as_text = parseResponse(explainResponse(s, "bob text", kNow));
  EXPECT_EQ(as_text.body, text.body);
  auto json = parseResponse(explainResponse(s, formatExplainArgument("bob", true), kNow));
  ASSERT_TRUE(json.ok);
  auto j = test::parseJson(json.body);
  ASSERT_TRUE(j) << json.body;
  EXPECT_EQ((*j)["blocker"].str, "symmetric-both");

  auto unknown = parseResponse(explainResponse(s, "bobb json", kNow));
  EXPECT_FALSE(unknown.ok);
  EXPECT_EQ(unknown.body, "no peer named 'bobb' (did you mean 'bob'?); the peers are: bob");
  auto missing = parseResponse(explainResponse(s, "", kNow));
  EXPECT_FALSE(missing.ok);
  EXPECT_TRUE(has(missing.body, "explain needs a peer name")) << missing.body;
  auto bad_format = parseResponse(explainResponse(s, "bob yaml", kNow));
  EXPECT_FALSE(bad_format.ok);
  EXPECT_TRUE(has(bad_format.body, "not 'yaml'")) << bad_format.body;
  // A name with a control character cannot split the one-line error.
  auto raw = explainResponse(s, "b\x1b\r", kNow);
  EXPECT_EQ(raw.find('\n'), raw.size() - 1) << raw;
  EXPECT_EQ(raw.find('\r'), std::string::npos);
}

TEST(Explain, OddValuesStillGiveAnAnswer) {
  EngineStatus s;
  s.nat_type = "";
  PeerStatus p;
  p.name = "";
  p.state = "weird";
  p.path = "";
  p.relay_state = "";
  p.nat_type = "\"quoted\"";
  p.candidates.push_back(test::candidate("192.0.2.1:1", "", "", 0, 0));
  p.history.push_back({kNow + std::chrono::hours(1), "", "", ""});
  p.direct_retry_at = kNow - std::chrono::seconds(1);
  s.peers.push_back(p);
  auto t = renderExplain(s, "", kNow);
  EXPECT_EQ(t.rfind(" is weird (path )\n", 0), 0u) << t;
  EXPECT_TRUE(has(t, "  next direct attempt: now\n")) << t;
  EXPECT_TRUE(has(t, "  0 s ago      -> \n")) << t;
  auto j = test::parseJson(renderExplainJson(s, "", kNow));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["peer_nat_type"].str, "\"quoted\"");
}

}  // namespace
}  // namespace vpn::client
