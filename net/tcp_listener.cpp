#include "net/tcp_listener.hpp"

#include <cerrno>
#include <string>

#include "base/log.hpp"
#include "net/sockaddr.hpp"

namespace vpn::net {
namespace {

[[noreturn]] void throwListenError(int rc, const protocol::Endpoint& bind) {
  const std::string port = std::to_string(bind.port());
  const std::string addr = bind.address().toString();
  if (rc == UV_EADDRINUSE) {
    throw NetError("TCP port " + port + " on " + addr +
                   " is already in use; stop the other program or change the listen address");
  }
  if (rc == UV_EADDRNOTAVAIL) {
    throw NetError("cannot listen on TCP " + bind.toString() + ": no local interface has address " +
                   addr + "; change the listen address");
  }
  if (rc == UV_EACCES || rc == UV_EPERM) {
    throw NetError("cannot listen on TCP " + bind.toString() +
                   ": permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)");
  }
  throw NetError("cannot listen on TCP " + bind.toString() + ": " + uv_strerror(rc));
}

}  // namespace

TcpListener::TcpListener(uv_loop_t& loop, OnAccept on_accept)
    : loop_(loop), on_accept_(std::move(on_accept)) {}

std::unique_ptr<TcpListener> TcpListener::listen(uv_loop_t& loop, const protocol::Endpoint& bind,
                                                 OnAccept on_accept, int backlog) {
  std::unique_ptr<TcpListener> l(new TcpListener(loop, std::move(on_accept)));
  int rc = l->tcp_.init([&](uv_tcp_t* t) { return uv_tcp_init(&loop, t); });
  if (rc < 0) {
    throw NetError(std::string("cannot create a TCP socket: ") + uv_strerror(rc));
  }
  l->tcp_->data = l.get();
  sockaddr_storage ss{};
  toSockaddr(bind, ss);
  // "[::]" is dual stack; a specific IPv6 address only ever sees IPv6.
  unsigned flags = 0;
  if (bind.address().isV6() && !bind.address().isUnspecified()) {
    flags = UV_TCP_IPV6ONLY;
  }
  rc = uv_tcp_bind(l->tcp_.get(), reinterpret_cast<const sockaddr*>(&ss), flags);
  if (rc < 0) {
    throwListenError(rc, bind);
  }
  // libuv may report a bind conflict only here.
  rc =
      uv_listen(reinterpret_cast<uv_stream_t*>(l->tcp_.get()), backlog, &TcpListener::onConnection);
  if (rc < 0) {
    throwListenError(rc, bind);
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  std::uint16_t port = bind.port();
  if (uv_tcp_getsockname(l->tcp_.get(), reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    if (auto ep = fromSockaddr(bound, static_cast<socklen_t>(len))) {
      port = ep->port();
    }
  }
  // Keep the caller's spelling of the address ("[::]" stays "[::]").
  l->local_ = protocol::Endpoint(bind.address(), port);
  return l;
}

TcpListener::~TcpListener() { close(); }

void TcpListener::close() { tcp_.reset(); }

void TcpListener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (self == nullptr) {
    return;
  }
  if (status < 0) {
    ++self->accept_errors_;
    LOG_WARN("TCP accept on %s failed: %s", self->local_.toString().c_str(), uv_strerror(status));
    return;
  }
  self->acceptOne();
}

void TcpListener::acceptOne() {
  std::unique_ptr<TcpConnection> c(new TcpConnection(loop_, protocol::Endpoint{}));
  try {
    c->initHandles();
  } catch (const NetError& e) {
    ++accept_errors_;
    LOG_WARN("TCP accept on %s failed: %s", local_.toString().c_str(), e.what());
    return;
  }
  int rc = uv_accept(reinterpret_cast<uv_stream_t*>(tcp_.get()),
                     reinterpret_cast<uv_stream_t*>(c->tcp_.get()));
  if (rc < 0) {
    ++accept_errors_;
    LOG_WARN("TCP accept on %s failed: %s", local_.toString().c_str(), uv_strerror(rc));
    return;
  }
  sockaddr_storage peer{};
  int len = sizeof peer;
  if (uv_tcp_getpeername(c->tcp_.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    if (auto ep = fromSockaddr(peer, static_cast<socklen_t>(len))) {
      c->remote_ = *ep;
    }
  }
  c->connected_ = true;
  ++accepted_;
  if (on_accept_) {
    on_accept_(std::move(c));  // last: it may close the listener
  }
}

}  // namespace vpn::net
