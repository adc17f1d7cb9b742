#pragma once
// Path: one way to reach a peer, as docs/paths.md names them: UDP or TCP, straight to the peer
// (channel 0) or relayed through a rendezvous on a channel. A relayed path names the rendezvous'
// address on the transport we reach it over, so a Path alone says where the bytes go.
// Moving a session between paths needs no new handshake: the receiver index in every packet
// names the session, whatever the path. Plain value type; no allocation except toString().
#include <cstdint>
#include <string>
#include <string_view>

#include "client/engine/engine_sink.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::client {

// Best first: the enum order is the preference order.
enum class PathKind : std::uint8_t { kDirectUdp, kDirectTcp, kRelayUdp, kRelayTcp };

// "direct-udp" | "direct-tcp" | "relay-udp" | "relay-tcp"
std::string_view toString(PathKind k);
std::string_view toString(Transport t);

struct Path {
  Transport transport = Transport::kUdp;
  protocol::Endpoint endpoint;  // direct: the peer; relayed: the rendezvous (on `transport`)
  std::uint16_t channel = 0;    // nonzero: relayed through the rendezvous on this channel
  // Direct UDP only: the local socket. 0 is the tunnel's own; others are sockets the sink
  // opened for port prediction (EngineSink::openPredictionSockets).
  std::uint16_t local = 0;

  static Path udp(const protocol::Endpoint& ep) { return {Transport::kUdp, ep, 0}; }
  static Path tcp(const protocol::Endpoint& ep) { return {Transport::kTcp, ep, 0}; }

  bool relayed() const { return channel != 0; }
  bool direct() const { return channel == 0; }
  PathKind kind() const {
    if (direct()) {
      return transport == Transport::kUdp ? PathKind::kDirectUdp : PathKind::kDirectTcp;
    }
    return transport == Transport::kUdp ? PathKind::kRelayUdp : PathKind::kRelayTcp;
  }
  // Lower is better (docs/paths.md: direct-udp > direct-tcp > relay-udp > relay-tcp).
  int rank() const { return static_cast<int>(kind()); }
  bool betterThan(const Path& o) const { return rank() < o.rank(); }
  // "direct-udp 198.51.100.2:51820" / "relay-udp 203.0.113.1:3478 channel 7"
  std::string toString() const;

  friend bool operator==(const Path&, const Path&) = default;
};

}  // namespace vpn::client
