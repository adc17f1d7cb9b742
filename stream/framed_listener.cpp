#include "stream/framed_listener.hpp"

#include "base/log.hpp"
#include "net/net_error.hpp"

namespace vpn::stream {

FramedListener::FramedListener(crypto::TlsStreamContext* tls, OnAccept on_accept,
                               FramedConnection::Callbacks callbacks, Duration handshake_timeout)
    : tls_(tls),
      on_accept_(std::move(on_accept)),
      callbacks_(std::move(callbacks)),
      handshake_timeout_(handshake_timeout) {}

std::unique_ptr<FramedListener> FramedListener::open(
    uv_loop_t& loop, const protocol::Endpoint& bind, crypto::TlsStreamContext* tls,
    OnAccept on_accept, FramedConnection::Callbacks callbacks, Duration handshake_timeout) {
  if (tls != nullptr && !tls->isServer()) {
    throw net::NetError("the TLS context of a TCP listener on " + bind.toString() +
                        " must be a server context (certificate and key)");
  }
  std::unique_ptr<FramedListener> l(
      new FramedListener(tls, std::move(on_accept), std::move(callbacks), handshake_timeout));
  FramedListener* self = l.get();
  l->tcp_ = net::TcpListener::listen(loop, bind, [self](std::unique_ptr<net::TcpConnection> c) {
    self->onTcpAccept(std::move(c));
  });
  return l;
}

FramedListener::~FramedListener() = default;

void FramedListener::close() {
  if (tcp_) {
    tcp_->close();
  }
}

const protocol::Endpoint& FramedListener::localEndpoint() const { return tcp_->localEndpoint(); }
std::uint64_t FramedListener::accepted() const { return tcp_->accepted(); }

void FramedListener::onTcpAccept(std::unique_ptr<net::TcpConnection> tcp) {
  std::unique_ptr<FramedConnection> c;
  try {
    c = FramedConnection::accept(std::move(tcp), tls_, handshake_timeout_, callbacks_);
  } catch (const std::exception& e) {
    ++accept_errors_;
    LOG_WARN("cannot set up a TCP connection on %s: %s", localEndpoint().toString().c_str(),
             e.what());
    return;
  }
  if (on_accept_) {
    on_accept_(std::move(c));  // last: it may close the listener
  }
}

}  // namespace vpn::stream
