#pragma once
// FramedConnection: datagrams over one TCP connection, each prefixed with its 16-bit big-endian
// length (stream/frame_codec.hpp), optionally inside TLS 1.3 (crypto/tls_stream.hpp) so the
// connection looks like HTTPS. It carries opaque datagrams and knows nothing of vpnpeer sessions.
//
// Sending: send() queues while the TCP connect or the TLS handshake is under way and sends once
// established. It refuses (returns false, counted in stats().refused_sends) an empty datagram,
// one above 65535 bytes, any datagram once closed, and one that would take the bytes waiting
// to go out past its send limit (kSendLimit, 4 MiB, unless setSendLimit): the queue never grows
// without bound.
// Receiving: on_datagram gets each datagram as a mutable view (decrypt it in place), valid only
// during the callback; frames that arrive whole are not copied.
// Timeouts: an outbound connection must be established (TCP connected and, with TLS, the
// handshake done) within `timeout`, else it closes with "timed out". An accepted TLS connection
// must finish its handshake within the listener's handshake timeout. There is no idle timeout:
// the owner closes connections that stay silent (e.g. one that never registers).
// Memory: a 16 KiB read buffer; the 64 KiB frame buffer only once a frame arrives split across
// reads; with TLS a 16 KiB plaintext buffer, OpenSSL's state and, once corked, a batch buffer of
// up to 80 KiB. Nothing allocates per datagram
// once the send queue has grown to its working size.
//
// Closing: on_closed(conn, reason) is called at most once, on a later loop iteration than the
// cause (never from inside connect(), send() or close()), and is the last thing the connection
// does: the owner MAY destroy the connection inside on_closed. Reasons: those of
// net::TcpConnection ("connection refused", "timed out", "reset by peer", "closed by peer",
// "connection error: ..."), "closed" (close()), "protocol error: zero-length frame",
// "TLS failed: ...", "TLS closed by peer", "send queue overflow" (TLS output that did not fit;
// should not happen). Destroying the connection without close() calls nothing.
// Re-entrancy: on_datagram may call send() (on this or any connection) and close(), and may
// destroy this connection; after close() no further on_datagram is delivered.
//
// Ownership: owns its TcpConnection, TlsStream and decoder; the TlsStreamContext must outlive it.
// The uv loop must outlive it and be run afterwards so libuv can free the handles.
// Threading: loop thread only. Errors: connect() and accept() throw NetError if libuv cannot
// create a handle or the TLS context has the wrong role (connect needs a client context, accept a
// server one), CryptoError only if OpenSSL cannot allocate; network failures come as on_closed.
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "crypto/tls_stream.hpp"
#include "net/tcp_connection.hpp"
#include "net/timer.hpp"
#include "protocol/ip_address.hpp"
#include "stream/frame_codec.hpp"

namespace vpn::stream {

struct FramedStats {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;  // accepted by send()
  std::uint64_t bytes_in = 0;    // datagram bytes, without headers or TLS
  std::uint64_t bytes_out = 0;
  std::uint64_t refused_sends = 0;  // send() returned false
};

class FramedConnection {
 public:
  struct Callbacks {
    std::function<void(FramedConnection& conn, std::span<std::uint8_t> datagram)> on_datagram;
    std::function<void(FramedConnection& conn, const std::string& reason)> on_closed;
    // Optional: TCP connected and (with TLS) the handshake done. Not called for an accepted
    // plain connection, which is established when it is handed over.
    std::function<void(FramedConnection& conn)> on_established;
  };

  static constexpr std::size_t kSendLimit = 4 * 1024 * 1024;

  // Connects to `to`; tls == nullptr means plain TCP, otherwise a client TlsStreamContext.
  static std::unique_ptr<FramedConnection> connect(uv_loop_t& loop, const protocol::Endpoint& to,
                                                   crypto::TlsStreamContext* tls, Duration timeout,
                                                   Callbacks callbacks);
  // Wraps an accepted connection (FramedListener does this) and starts reading it. tls, if
  // given, must be a server context. handshake_timeout applies to TLS only (<= 0: none).
  static std::unique_ptr<FramedConnection> accept(std::unique_ptr<net::TcpConnection> tcp,
                                                  crypto::TlsStreamContext* tls,
                                                  Duration handshake_timeout, Callbacks callbacks);
  ~FramedConnection();
  FramedConnection(const FramedConnection&) = delete;
  FramedConnection& operator=(const FramedConnection&) = delete;

  bool send(std::span<const std::uint8_t> datagram);
  // Between cork() and uncork() datagrams are gathered (with TLS, into records of up to 16 KiB
  // of plaintext) and go to the kernel in one write at uncork(): a batch of small datagrams then
  // costs one system call and a TLS record per 16 KiB instead of one each. Limits as for send().
  void cork();
  void uncork();
  bool corked() const { return tcp_->corked(); }
  // Lowers (or raises) the queue bound for this connection; kSendLimit until set.
  void setSendLimit(std::size_t bytes);
  // Closes at once (queued datagrams are dropped); on_closed(reason) follows later. Idempotent.
  void close(const std::string& reason = "closed");

  const protocol::Endpoint& remote() const;
  bool established() const { return established_; }
  bool closed() const;
  bool isTls() const { return tls_ != nullptr; }
  bool outbound() const { return outbound_; }
  // Bytes accepted by send() and not yet taken by the kernel (headers and TLS included).
  std::size_t queuedBytes() const;
  const FramedStats& stats() const { return stats_; }

 private:
  FramedConnection(std::unique_ptr<net::TcpConnection> tcp, crypto::TlsStreamContext* tls,
                   bool outbound, Callbacks callbacks);
  net::TcpConnection::Callbacks tcpCallbacks();
  void armHandshakeTimer(uv_loop_t& loop, Duration timeout);
  void onTcpConnected();
  void onTcpData(std::span<std::uint8_t> bytes);
  void onTcpClosed(const std::string& reason);
  bool deliver(std::span<std::uint8_t> bytes);  // false: stop (closed or destroyed)
  void pumpTls();                               // moves TLS ciphertext to the TCP queue
  void becomeEstablished();
  std::size_t send_limit_ = kSendLimit;

  std::unique_ptr<net::TcpConnection> tcp_;
  std::unique_ptr<crypto::TlsStream> tls_;
  std::unique_ptr<std::uint8_t[]> plain_buf_;    // TLS only: decrypted bytes before framing
  std::unique_ptr<net::Timer> handshake_timer_;  // TLS only
  std::vector<std::uint8_t> tls_batch_;          // TLS only, while corked: framed plaintext
  FrameDecoder decoder_;
  Callbacks cb_;
  FramedStats stats_;
  bool outbound_;
  bool established_ = false;
  bool* alive_ = nullptr;  // set while on_datagram may run; cleared by the destructor
};

}  // namespace vpn::stream
