#pragma once
// TcpLinks: the daemon's TCP edge for the engine (docs/paths.md rule 8): framed connections to
// rendezvous TCP listeners (TLS-wrapped when the peer file says so), to peers' TCP candidates,
// and the connections peers open to our own listener (peer.tcp_listen). Each connection is known
// by its remote endpoint, which is what the engine names in sendTcp() and sees as the `from` of
// datagrams that arrive on it.
//
// send() to an endpoint without a connection opens one and queues behind the connect (bounded
// by stream::FramedConnection). Every connection that ends, for whatever reason, is reported once
// through on_closed, so the engine can fall back or reconnect.
//
// A connection that brings no datagram for kIdleTimeout is closed (reported like any other end):
// sessions send keepalives far more often, so only dead or junk connections go.
//
// Ownership: owned by the daemon; borrows the loop (which must outlive it and run after it is
// destroyed, so libuv can free the handles). Threading: the loop's thread only. Errors: listen()
// throws net::NetError with a clear sentence; everything else surfaces as on_closed reasons.
#include <uv.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/tls_stream.hpp"
#include "net/timer.hpp"
#include "protocol/ip_address.hpp"
#include "stream/framed_connection.hpp"
#include "stream/framed_listener.hpp"

namespace vpn::client {

class TcpLinks {
 public:
  using OnDatagram = std::function<void(const protocol::Endpoint& from, std::span<std::uint8_t>)>;
  using OnClosed = std::function<void(const protocol::Endpoint& remote, const std::string& reason)>;

  static constexpr Duration kConnectTimeout = seconds(5);
  static constexpr Duration kIdleTimeout = seconds(90);

  TcpLinks(uv_loop_t& loop, OnDatagram on_datagram, OnClosed on_closed,
           Duration idle_timeout = kIdleTimeout);
  ~TcpLinks();
  TcpLinks(const TcpLinks&) = delete;
  TcpLinks& operator=(const TcpLinks&) = delete;

  // Accepts peers' connections on `bind` (plain TCP: the datagrams are sealed already).
  void listen(const protocol::Endpoint& bind);
  // Outgoing connections to `to` are wrapped in TLS with this SNI name (may be empty).
  void setTls(const protocol::Endpoint& to, const std::string& server_name);
  void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes);
  void close(const protocol::Endpoint& to);
  // Where listen() bound (the real port when it asked for port 0); nullopt when not listening.
  std::optional<protocol::Endpoint> listenEndpoint() const;
  // Stops listening and closes every connection (no on_closed for these).
  void closeAll();
  std::size_t connections() const { return links_.size(); }
  std::uint64_t refusedSends() const { return refused_; }

 private:
  stream::FramedConnection::Callbacks callbacks();
  void adopt(std::unique_ptr<stream::FramedConnection> conn);
  void onClosed(stream::FramedConnection& conn, const std::string& reason);
  void sweepIdle();

  struct Link {
    std::unique_ptr<stream::FramedConnection> conn;
    Instant last_rx{};
  };

  uv_loop_t& loop_;
  OnDatagram on_datagram_;
  OnClosed on_closed_;
  Duration idle_timeout_;
  std::unique_ptr<stream::FramedListener> listener_;
  std::map<protocol::Endpoint, std::unique_ptr<crypto::TlsStreamContext>> tls_;
  std::map<protocol::Endpoint, Link> links_;
  net::Timer sweep_;
  std::uint64_t refused_ = 0;
};

}  // namespace vpn::client
