#pragma once
// The rendezvous control socket's protocol and renderings. One request per connection:
//   request:  "VPNPEER/1 status [json|text]\n"
//   response: "VPNPEER/1 OK\n<body>"  or  "VPNPEER/1 ERR <one sentence>\n"
// (the same framing as the peer's control socket, so `nc -U` habits carry over).
// Pure functions; no I/O.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/time.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"

namespace vpn::rendezvous {

struct TcpInfo {
  std::size_t connections = 0;     // open now
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;       // over the connection limit
  std::uint64_t refused_per_source = 0;  // over the limit for one IPv4 address or IPv6 /64
  std::uint64_t unused_closed = 0;  // no session or handshake on it 15 s after accept
  std::uint64_t idle_closed = 0;   // closed for bringing nothing
  std::uint64_t rx_frames = 0;
  std::uint64_t tx_frames = 0;
  std::uint64_t tx_dropped = 0;    // connection gone or its send queue full
};

struct ServerInfo {
  std::string name;                 // our certificate's CN
  std::string cert_fingerprint;     // SHA-256 of our certificate (a reload may renew it)
  std::string cert_not_after;       // its expiry, "YYYY-MM-DD HH:MM:SS UTC"
  bool relay = true;                // [relay] enabled, as applied now
  double refresh_s = 0;             // what peers are told to re-register at
  bool udp_gso = false;             // offloads in use on the primary socket
  bool udp_gro = false;
  std::uint64_t gso_datagrams = 0;  // datagrams sent in GSO runs, all sockets
  std::uint64_t gro_datagrams = 0;  // datagrams received coalesced, all sockets
  std::vector<std::string> listen;  // bound sockets, "role address:port"
  double uptime_s = 0;
  std::uint64_t udp_tx_dropped = 0;
  std::uint64_t udp_rx_packets = 0;
  std::uint64_t udp_tx_packets = 0;
  TcpInfo tcp;
};

enum class StatusFormat { kText, kJson };
// Parses a request line: the format of a status request, or nullopt with `error_response` set to
// the complete response to send back.
std::optional<StatusFormat> parseStatusRequest(std::string_view line, std::string& error_response);
std::string okResponse(std::string_view body);

std::string renderStatusJson(const ServerInfo& info, const RendezvousStatus& status);
std::string renderStatusText(const ServerInfo& info, const RendezvousStatus& status);

}  // namespace vpn::rendezvous
