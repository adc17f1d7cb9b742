#pragma once
// FramedListener: accepts TCP connections (optionally TLS-wrapped) and hands each to its owner as
// a FramedConnection that is already reading, with the given callbacks installed.
//
// A TLS connection is handed over at TCP accept, before its handshake: established() turns true
// (and on_established runs) when the handshake completes; a handshake that fails or takes longer
// than handshake_timeout closes it through on_closed. Datagrams sent to it meanwhile are queued.
// Ownership: the listener owns its socket only; accepted connections belong to the owner. The
// TlsStreamContext (a server context) must outlive the listener and every connection it accepted.
// Lifetime: the loop must outlive the listener and be run after it is closed. Threading: loop
// thread only; on_accept may close the listener but must not destroy it.
// Errors: open() throws NetError with one clear sentence ("TCP port 443 on 0.0.0.0 is already in
// use; ..."); a TLS context that is not a server context is a NetError too. Accept failures
// afterwards are counted and logged.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "base/time.hpp"
#include "crypto/tls_stream.hpp"
#include "net/tcp_listener.hpp"
#include "protocol/ip_address.hpp"
#include "stream/framed_connection.hpp"

namespace vpn::stream {

class FramedListener {
 public:
  using OnAccept = std::function<void(std::unique_ptr<FramedConnection> connection)>;
  static constexpr Duration kDefaultHandshakeTimeout = std::chrono::seconds(10);

  static std::unique_ptr<FramedListener> open(
      uv_loop_t& loop, const protocol::Endpoint& bind, crypto::TlsStreamContext* tls,
      OnAccept on_accept, FramedConnection::Callbacks callbacks,
      Duration handshake_timeout = kDefaultHandshakeTimeout);
  ~FramedListener();
  FramedListener(const FramedListener&) = delete;
  FramedListener& operator=(const FramedListener&) = delete;

  // Stops listening; accepted connections are not affected. Idempotent.
  void close();
  const protocol::Endpoint& localEndpoint() const;
  bool isTls() const { return tls_ != nullptr; }
  std::uint64_t accepted() const;
  std::uint64_t acceptErrors() const { return accept_errors_ + (tcp_ ? tcp_->acceptErrors() : 0); }

 private:
  FramedListener(crypto::TlsStreamContext* tls, OnAccept on_accept,
                 FramedConnection::Callbacks callbacks, Duration handshake_timeout);
  void onTcpAccept(std::unique_ptr<net::TcpConnection> tcp);

  crypto::TlsStreamContext* tls_;
  OnAccept on_accept_;
  FramedConnection::Callbacks callbacks_;
  Duration handshake_timeout_;
  std::unique_ptr<net::TcpListener> tcp_;
  std::uint64_t accept_errors_ = 0;  // could not wrap (e.g. TLS allocation failed)
};

}  // namespace vpn::stream
