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
// Bounds (Limits): at most max_links connections in all and max_per_source accepted ones from
// one IPv4 address or IPv6 /64 (more are closed at accept); each accepted one may queue
// accepted_send_limit bytes. A connection that brings no datagram for idle_timeout is closed
// (reported like any other end): sessions send keepalives far more often. An accepted one that
// nothing uses (the is_used predicate, the engine's usesTcp) unused_timeout after it came is
// closed too, so frames of junk do not keep a slot.
//
// Batching: send() corks the connection (stream::FramedConnection::cork) and flush() sends what
// each gathered in one write. A net::EndOfTurn flushes at the end of every loop iteration in
// which something was sent or received, so nothing waits longer than the iteration; before that
// it calls on_batch_end (set by setOnBatchEnd) if datagrams arrived, so the owner can do its
// per-batch work (flush the TUN coalescer, arm timers) once per read rather than per datagram.
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

#include "client/tcp_link_limits.hpp"
#include "crypto/tls_stream.hpp"
#include "net/timer.hpp"
#include "net/end_of_turn.hpp"
#include "protocol/ip_address.hpp"
#include "stream/framed_connection.hpp"
#include "stream/framed_listener.hpp"

namespace vpn::client {

class TcpLinks {
 public:
  using OnDatagram = std::function<void(const protocol::Endpoint& from, std::span<std::uint8_t>)>;
  using OnClosed = std::function<void(const protocol::Endpoint& remote, const std::string& reason)>;

  using IsUsed = std::function<bool(const protocol::Endpoint& remote)>;
  static constexpr Duration kConnectTimeout = seconds(5);

  using Limits = TcpLinkLimits;
  using Counters = TcpLinkCounters;

  TcpLinks(uv_loop_t& loop, OnDatagram on_datagram, OnClosed on_closed, IsUsed is_used = nullptr,
           Limits limits = {});
  ~TcpLinks();
  TcpLinks(const TcpLinks&) = delete;
  TcpLinks& operator=(const TcpLinks&) = delete;

  // Accepts peers' connections on `bind` (plain TCP: the datagrams are sealed already).
  void listen(const protocol::Endpoint& bind);
  // Outgoing connections to `to` are wrapped in TLS with this SNI name (may be empty).
  void setTls(const protocol::Endpoint& to, const std::string& server_name);
  void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes);
  // Hands every corked connection's gathered datagrams to the kernel now.
  void flush();
  void setOnBatchEnd(std::function<void()> fn) { on_batch_end_ = std::move(fn); }
  void close(const protocol::Endpoint& to);
  // Where listen() bound (the real port when it asked for port 0); nullopt when not listening.
  std::optional<protocol::Endpoint> listenEndpoint() const;
  // Stops listening and closes every connection (no on_closed for these).
  void closeAll();
  std::size_t connections() const { return links_.size(); }
  std::uint64_t refusedSends() const { return counters_.refused_sends; }
  const Counters& counters() const { return counters_; }

 private:
  stream::FramedConnection::Callbacks callbacks();
  void adopt(std::unique_ptr<stream::FramedConnection> conn);
  void onClosed(stream::FramedConnection& conn, const std::string& reason);
  void sweepIdle();
  void endOfTurn();

  struct Link {
    std::unique_ptr<stream::FramedConnection> conn;
    Instant last_rx{};
    Instant opened{};
    bool accepted = false;
  };
  std::size_t acceptedFrom(const protocol::IpAddress& source) const;
  void armSweep(Instant now);

  uv_loop_t& loop_;
  OnDatagram on_datagram_;
  OnClosed on_closed_;
  IsUsed is_used_;
  Limits limits_;
  Counters counters_;
  std::unique_ptr<stream::FramedListener> listener_;
  std::map<protocol::Endpoint, std::unique_ptr<crypto::TlsStreamContext>> tls_;
  std::map<protocol::Endpoint, Link> links_;
  net::Timer sweep_;
  std::function<void()> on_batch_end_;
  net::EndOfTurn turn_;   // armed while a flush or a batch end is due
  bool received_ = false;  // datagrams arrived since the last turn's end
  std::vector<protocol::Endpoint> corked_;
};

}  // namespace vpn::client
