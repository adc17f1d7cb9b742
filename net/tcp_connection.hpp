#pragma once
// TcpConnection: one libuv TCP stream (outbound via connect(), inbound from TcpListener), with
// TCP_NODELAY, a read buffer owned by the connection and a bounded send queue.
//
// Reads: on_data gets a mutable view of the connection's read buffer (kReadBuffer bytes,
// allocated once), valid only during the callback. Writes: write() tries the socket at once and
// queues what the kernel does not take; the queue (plus the write in flight) is bounded by
// sendLimit() (kDefaultSendLimit). A write that would pass the bound is refused whole, counted in
// stats().refused_writes, and the connection stays open. Writes made while connecting are queued
// and sent once connected.
//
// Closing: on_closed(reason) is called at most once, always from its own loop callback on a later
// loop iteration (never from inside connect(), write() or close()), and as the last thing the
// connection does: the owner may destroy it inside on_closed. Reasons: "connection refused",
// "timed out" (the connect timeout), "reset by peer", "closed by peer", "closed" (close() without
// a reason), a caller-given reason, or "connection error: <libuv message>". close() drops anything
// still queued; destroying the connection instead of closing it calls nothing.
// Re-entrancy: on_data may call write() and close(), and may destroy the connection.
//
// Ownership: the uv_tcp_t and the timer are heap-allocated behind UvHandle (freed in their close
// callbacks); a write or connect request in flight when the connection is destroyed is freed by
// its own (cancelled) callback. The loop must outlive the connection and be run afterwards.
// Threading: loop thread only. Errors: connect() throws NetError only if libuv cannot create a
// handle (out of resources); every network failure arrives as on_closed.
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "net/net_error.hpp"
#include "net/uv_handle.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::net {

struct TcpStats {
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;        // handed to the kernel
  std::uint64_t refused_writes = 0;  // write() calls refused (queue full or closed)
};

class TcpConnection {
 public:
  struct Callbacks {
    std::function<void()> on_connected;  // outbound connections only
    std::function<void(std::span<std::uint8_t> bytes)> on_data;
    std::function<void(const std::string& reason)> on_closed;
  };

  static constexpr std::size_t kReadBuffer = 16 * 1024;
  static constexpr std::size_t kDefaultSendLimit = 4 * 1024 * 1024;

  // Starts connecting to `to`. Failure, including a timeout (counted from now), arrives as
  // on_closed. timeout <= 0 means no timeout.
  static std::unique_ptr<TcpConnection> connect(uv_loop_t& loop, const protocol::Endpoint& to,
                                                Duration timeout, Callbacks callbacks);
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // For a connection from TcpListener: sets the callbacks and starts reading (on_connected is not
  // called). Until start(), nothing is read. Calling it on an outbound connection, or twice,
  // only replaces the callbacks.
  void start(Callbacks callbacks);

  // Sends a then b as one unit (b may be empty): both are queued or neither. False if refused.
  bool write(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b = {});
  // Corked, write() only queues (still bounded by sendLimit()); uncork() hands everything queued
  // to the kernel in one write. A batch of small datagrams then costs one system call and goes
  // out in full-sized segments instead of one segment each (TCP_NODELAY is on).
  void cork() { corked_ = true; }
  void uncork();
  bool corked() const { return corked_; }
  // Closes at once; on_closed(reason) follows on a later loop iteration. Idempotent (the first
  // reason wins, also over a failure already pending).
  void close(const std::string& reason = "closed");
  // Closes once everything written so far has been taken by the kernel (at once if nothing is
  // queued); nothing more is read meanwhile. For one-response protocols.
  void closeWhenSent(const std::string& reason = "closed");

  bool connected() const { return connected_; }
  bool closed() const { return closing_; }
  const protocol::Endpoint& remote() const { return remote_; }
  uv_loop_t& loop() const { return loop_; }
  // Bytes queued and in flight, not yet taken by the kernel.
  std::size_t queuedBytes() const;
  std::size_t sendLimit() const { return send_limit_; }
  void setSendLimit(std::size_t bytes) { send_limit_ = bytes; }
  const TcpStats& stats() const { return stats_; }

 private:
  struct ConnectReq;
  struct WriteReq;
  friend class TcpListener;

  TcpConnection(uv_loop_t& loop, protocol::Endpoint remote);
  void initHandles();  // throws NetError
  static void onConnect(uv_connect_t* req, int status);
  static void onAlloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onTimer(uv_timer_t* timer);
  void startReading();
  void flushQueue();
  void fail(int uv_error);
  void notifyClosedLater();

  uv_loop_t& loop_;
  protocol::Endpoint remote_;
  Callbacks cb_;
  UvHandle<uv_tcp_t> tcp_;
  UvHandle<uv_timer_t> timer_;  // connect timeout, then the deferred on_closed
  ConnectReq* connect_req_ = nullptr;
  WriteReq* write_req_ = nullptr;  // reused; writing_ while uv_write is in flight
  bool writing_ = false;
  std::vector<std::uint8_t> queue_;  // waiting for the write in flight (or the connect)
  std::unique_ptr<std::uint8_t[]> read_buf_;
  std::size_t send_limit_ = kDefaultSendLimit;
  bool connected_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool close_when_sent_ = false;
  bool corked_ = false;
  std::string close_reason_;
  bool* alive_ = nullptr;  // set while on_data runs; cleared by the destructor
  TcpStats stats_;
};

}  // namespace vpn::net
