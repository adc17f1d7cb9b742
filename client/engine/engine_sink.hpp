#pragma once
// EngineSink: where the I/O-free engine puts its output. The daemon implements it over a UDP
// socket, TCP connections and a TUN device; tests implement it over an in-process network.
//
// Contract: called synchronously from inside Engine calls on the engine's thread. `bytes` and
// `packet` are valid only during the call; the sink copies what it keeps. The sink must not call
// back into the engine. It must not throw.
#include <cstdint>
#include <span>

#include "protocol/ip_address.hpp"
#include "session/datagram_sink.hpp"

namespace vpn::client {

// How a datagram travels: a UDP datagram, or one length-framed datagram on a TCP connection.
enum class Transport : std::uint8_t { kUdp, kTcp };

class EngineSink : public session::DatagramSink {
 public:
  // sendDatagram (from DatagramSink): one UDP datagram.
  virtual void writeTun(std::span<const std::uint8_t> packet) = 0;
  // One datagram on the TCP connection with `to` (an outgoing one we asked for, or one the peer
  // opened to our TCP listener; the sink keys connections by remote endpoint). If none exists the
  // sink opens one (TLS-wrapped when `to` is a rendezvous TCP address configured with tls),
  // queues a bounded amount while connecting, and frames each datagram with a 16-bit length.
  // Failures (refused, timeout, reset, closed by the other side) are reported later with
  // Engine::onTcpClosed.
  virtual void sendTcp(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) = 0;
  // The engine no longer needs this connection (path abandoned). Default: no-op.
  virtual void closeTcp(const protocol::Endpoint& to) { (void)to; }
};

}  // namespace vpn::client
