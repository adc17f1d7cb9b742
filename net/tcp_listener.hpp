#pragma once
// TcpListener: a listening TCP socket that hands each accepted connection to its owner.
//
// Accepted connections arrive through on_accept as TcpConnections that are connected but not yet
// reading (call start() on them). "[::]" listens dual stack (IPv4 clients appear as IPv4
// endpoints); port 0 picks a free port (see localEndpoint()).
// Ownership: the listener owns its handle only; accepted connections belong to whoever on_accept
// gives them to. Lifetime: the loop must outlive the listener and be run after it is closed.
// Threading: loop thread only. on_accept may close the listener but must not destroy it.
// Errors: listen() throws NetError with one clear sentence (e.g. "TCP port 443 on 0.0.0.0 is
// already in use; stop the other program or change the listen address"). Accept failures after
// that are counted in acceptErrors() and logged, never thrown.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "net/net_error.hpp"
#include "net/tcp_connection.hpp"
#include "net/uv_handle.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::net {

class TcpListener {
 public:
  using OnAccept = std::function<void(std::unique_ptr<TcpConnection> connection)>;
  static constexpr int kDefaultBacklog = 128;

  static std::unique_ptr<TcpListener> listen(uv_loop_t& loop, const protocol::Endpoint& bind,
                                             OnAccept on_accept, int backlog = kDefaultBacklog);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // Stops listening; idempotent.
  void close();
  const protocol::Endpoint& localEndpoint() const { return local_; }
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t acceptErrors() const { return accept_errors_; }

 private:
  TcpListener(uv_loop_t& loop, OnAccept on_accept);
  static void onConnection(uv_stream_t* server, int status);
  void acceptOne();

  uv_loop_t& loop_;
  OnAccept on_accept_;
  UvHandle<uv_tcp_t> tcp_;
  protocol::Endpoint local_;
  std::uint64_t accepted_ = 0;
  std::uint64_t accept_errors_ = 0;
};

}  // namespace vpn::net
