#pragma once
// EngineSink: where the I/O-free engine puts its output. The daemon implements it over a UDP
// socket, TCP connections and a TUN device; tests implement it over an in-process network.
//
// Contract: called synchronously from inside Engine calls on the engine's thread. `bytes` and
// `packet` are valid only during the call; the sink copies what it keeps. The sink must not call
// back into the engine. It must not throw.
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/ip_address.hpp"
#include "session/data_keys.hpp"
#include "session/datagram_sink.hpp"

namespace vpn::client {

// How a datagram travels: a UDP datagram, or one length-framed datagram on a TCP connection.
enum class Transport : std::uint8_t { kUdp, kTcp };

// A datagram whose data packet the sink seals (EngineSink::sendSealLater): the packet starts at
// `offset` (after a relay header), its header is written and its payload_len bytes of payload
// are in the clear, followed by room for the tag.
struct DeferredSeal {
  session::SealTicket ticket;
  std::size_t offset = 0;
  std::size_t payload_len = 0;
};

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
  // A UDP datagram the network may fragment (DF clear), unlike every other one: a sealed inner
  // packet larger than the path's MTU that may not be refused (IPv4 without DF, IPv6 up to 1280
  // bytes; protocol/inner_mtu.hpp). Rare. Default: as sendDatagram.
  virtual void sendFragmentable(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
    sendDatagram(to, bytes);
  }
  // Port prediction (docs/paths.md rule 14): up to `count` extra UDP sockets of `family`, on
  // ephemeral ports, each with a nonzero id the sink never reuses while open. Datagrams that
  // arrive on one are passed to Engine::onDatagram with its id; sendDatagramVia sends from one.
  // Returns the ids opened (fewer, or none, when the sink cannot). Default: none.
  virtual std::vector<std::uint16_t> openPredictionSockets(std::size_t count,
                                                           protocol::IpAddress::Family family) {
    (void)count;
    (void)family;
    return {};
  }
  virtual void closePredictionSocket(std::uint16_t local) { (void)local; }
  // One UDP datagram from prediction socket `local` (0: as sendDatagram). Default: dropped
  // unless local is 0.
  virtual void sendDatagramVia(std::uint16_t local, const protocol::Endpoint& to,
                               std::span<const std::uint8_t> bytes) {
    if (local == 0) {
      sendDatagram(to, bytes);
    }
  }
  // The engine no longer needs this connection (path abandoned). Default: no-op.
  virtual void closeTcp(const protocol::Endpoint& to) { (void)to; }

  // Sealing in batches (the daemon seals a TUN read's packets on all its worker threads at once).
  // While sealsLater() is true the engine may hand over data packets from Engine::onTunPacket
  // with sendSealLater instead of sealing them: the sink queues the datagram as sendDatagram
  // would and seals it before it leaves. The ticket's key stays valid only across consecutive
  // onTunPacket calls: the sink seals everything it holds before it calls the engine for anything
  // else, and when completeSeals() is called (the engine is about to replace a send key).
  // Defaults: never.
  virtual bool sealsLater() const { return false; }
  virtual void sendSealLater(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes,
                             const DeferredSeal& seal) {
    (void)to;
    (void)bytes;
    (void)seal;
  }
  virtual void completeSeals() {}
};

}  // namespace vpn::client
