#pragma once
// Test-only: hand-built EngineStatus snapshots for the status and explain renderer tests, one per
// path kind and NAT pair of docs/paths.md. Each takes the `now` the renderer will be given, so
// ages and deadlines come out as whole seconds.
#include "client/engine/engine_status.hpp"

namespace vpn::client::test {

inline protocol::Endpoint ep(const char* s) {
  return *protocol::Endpoint::parse(s);
}

inline CandidateStatus candidate(const char* endpoint, const char* kind, const char* state,
                                 std::uint64_t probes, std::uint64_t replies) {
  CandidateStatus c;
  c.endpoint = ep(endpoint);
  c.kind = kind;
  c.state = state;
  c.probes_sent = probes;
  c.replies = replies;
  return c;
}

inline RendezvousStatus rendezvous(const char* transport, std::uint32_t channels) {
  RendezvousStatus r;
  r.endpoint = ep("198.51.100.1:3478");
  r.state = "established";
  r.registered = true;
  r.reflexive = ep("203.0.113.5:61000");
  r.rtt = std::chrono::microseconds(11500);
  r.transport = transport;
  r.relay_channels = channels;
  return r;
}

inline PeerStatus basePeer(const char* name) {
  PeerStatus p;
  p.name = name;
  p.state = "established";
  p.rtt = std::chrono::microseconds(23400);
  p.addresses.push_back(*protocol::IpPrefix::parse("10.42.0.2/24"));
  p.cipher = "aes-256-gcm";
  p.handshakes = 1;
  p.relay_state = "none";
  return p;
}

// Symmetric NAT on both sides: relayed over UDP after punching failed.
inline EngineStatus symmetricBothRelayed(Instant now) {
  EngineStatus s;
  s.nat_type = "symmetric";
  PeerStatus p = basePeer("bob");
  p.nat_type = "symmetric";
  p.path = "relay-udp";
  p.endpoint = ep("198.51.100.1:3478");
  p.relay = ep("198.51.100.1:3478");
  p.relay_channel = 4711;
  p.relay_state = "bound";
  p.path_reason =
      "direct path failed: no probe reply from 2 candidates in 2 s; relayed through "
      "198.51.100.1:3478";
  p.candidates.push_back(candidate("192.168.1.7:51820", "local", "failed", 4, 0));
  p.candidates.push_back(candidate("203.0.113.9:40211", "reflexive", "failed", 4, 0));
  p.history.push_back(
      {now - std::chrono::seconds(41), "none", "relay-udp", "no direct path after 2 s"});
  p.direct_retry_at = now + std::chrono::seconds(12);
  p.last_handshake = now - std::chrono::seconds(40);
  s.peers.push_back(p);
  s.rendezvous.push_back(rendezvous("udp", 1));
  return s;
}

// Our network drops UDP: the rendezvous is reached over TCP and relays.
inline EngineStatus udpBlockedOverTcp(Instant now) {
  EngineStatus s;
  s.nat_type = "udp-blocked";
  PeerStatus p = basePeer("carol");
  p.nat_type = "port-restricted-cone";
  p.path = "relay-tcp";
  p.endpoint = ep("198.51.100.1:3478");
  p.relay = ep("198.51.100.1:3478");
  p.relay_channel = 9;
  p.relay_state = "bound";
  p.path_reason = "UDP to the rendezvous got no answer; relayed over TCP through 198.51.100.1:443";
  p.candidates.push_back(candidate("203.0.113.20:51820", "reflexive", "failed", 3, 0));
  p.history.push_back(
      {now - std::chrono::seconds(7), "none", "relay-tcp", "no UDP answer from the rendezvous"});
  p.direct_retry_at = now + std::chrono::seconds(5);
  s.peers.push_back(p);
  s.rendezvous.push_back(rendezvous("tcp", 1));
  s.rendezvous.back().tcp = ep("198.51.100.1:443");
  return s;
}

// Relayed first, then a probe reply moved it to a direct path; the relay stays as standby.
inline EngineStatus directAfterUpgrade(Instant now) {
  EngineStatus s;
  s.nat_type = "full-cone";
  PeerStatus p = basePeer("dave");
  p.nat_type = "port-restricted-cone";
  p.path = "direct-udp";
  p.endpoint = ep("203.0.113.9:40211");
  p.relay = ep("198.51.100.1:3478");
  p.relay_channel = 7;
  p.relay_state = "bound";
  p.path_reason = "probe reply from 203.0.113.9:40211";
  p.candidates.push_back(candidate("203.0.113.9:40211", "reflexive", "succeeded", 3, 2));
  p.history.push_back(
      {now - std::chrono::seconds(30), "none", "relay-udp", "no direct path after 2 s"});
  p.history.push_back({now - std::chrono::seconds(5), "relay-udp", "direct-udp",
                       "probe reply from 203.0.113.9:40211"});
  s.peers.push_back(p);
  s.rendezvous.push_back(rendezvous("udp", 1));
  return s;
}

// A direct path that went silent and was demoted to the relay; held down before a retry.
inline EngineStatus demotedWithHistory(Instant now) {
  EngineStatus s;
  s.nat_type = "port-restricted-cone";
  PeerStatus p = basePeer("erin");
  p.nat_type = "restricted-cone";
  p.path = "relay-udp";
  p.endpoint = ep("198.51.100.1:3478");
  p.relay = ep("198.51.100.1:3478");
  p.relay_channel = 12;
  p.relay_state = "bound";
  p.path_reason = "direct path silent for 4 s; demoted to the relay";
  p.candidates.push_back(candidate("203.0.113.30:51820", "reflexive", "failed", 9, 5));
  p.history.push_back({now - std::chrono::seconds(300), "none", "direct-udp",
                       "probe reply from 203.0.113.30:51820"});
  p.history.push_back({now - std::chrono::seconds(20), "direct-udp", "relay-udp",
                       "no authenticated packet for 4 s"});
  p.direct_retry_at = now + std::chrono::seconds(10);
  s.peers.push_back(p);
  s.rendezvous.push_back(rendezvous("udp", 1));
  return s;
}

}  // namespace vpn::client::test
