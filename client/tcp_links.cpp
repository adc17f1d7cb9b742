#include "client/tcp_links.hpp"

#include "base/log.hpp"

namespace vpn::client {

TcpLinks::TcpLinks(uv_loop_t& loop, OnDatagram on_datagram, OnClosed on_closed,
                   Duration idle_timeout)
    : loop_(loop),
      on_datagram_(std::move(on_datagram)),
      on_closed_(std::move(on_closed)),
      idle_timeout_(idle_timeout),
      sweep_(loop, [this] { sweepIdle(); }) {}

TcpLinks::~TcpLinks() { closeAll(); }

stream::FramedConnection::Callbacks TcpLinks::callbacks() {
  stream::FramedConnection::Callbacks cb;
  cb.on_datagram = [this](stream::FramedConnection& c, std::span<std::uint8_t> d) {
    // Copy the key: the callee may close (and we may destroy) the connection.
    protocol::Endpoint from = c.remote();
    if (auto it = links_.find(from); it != links_.end()) {
      it->second.last_rx = Clock::now();
    }
    on_datagram_(from, d);
  };
  cb.on_closed = [this](stream::FramedConnection& c, const std::string& reason) {
    onClosed(c, reason);
  };
  return cb;
}

void TcpLinks::listen(const protocol::Endpoint& bind) {
  listener_ = stream::FramedListener::open(
      loop_, bind, nullptr,
      [this](std::unique_ptr<stream::FramedConnection> conn) { adopt(std::move(conn)); },
      callbacks());
}

void TcpLinks::adopt(std::unique_ptr<stream::FramedConnection> conn) {
  protocol::Endpoint remote = conn->remote();
  auto it = links_.find(remote);
  if (it != links_.end()) {
    // A peer that reconnects from the same address and port: the old connection is dead.
    it->second.conn->close("replaced by a new connection from the same endpoint");
    links_.erase(it);
  }
  LOG_DEBUG("TCP connection from %s", remote.toString().c_str());
  links_.emplace(remote, Link{std::move(conn), Clock::now()});
  if (!sweep_.armed()) {
    sweep_.armAt(Clock::now() + idle_timeout_ / 3);
  }
}

void TcpLinks::setTls(const protocol::Endpoint& to, const std::string& server_name) {
  tls_[to] = std::make_unique<crypto::TlsStreamContext>(
      crypto::TlsStreamContext::client(server_name));
}

void TcpLinks::send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  auto it = links_.find(to);
  if (it == links_.end()) {
    auto tls = tls_.find(to);
    auto conn = stream::FramedConnection::connect(
        loop_, to, tls == tls_.end() ? nullptr : tls->second.get(), kConnectTimeout, callbacks());
    LOG_DEBUG("TCP connecting to %s%s", to.toString().c_str(),
              tls == tls_.end() ? "" : " (TLS)");
    it = links_.emplace(to, Link{std::move(conn), Clock::now()}).first;
    if (!sweep_.armed()) {
      sweep_.armAt(Clock::now() + idle_timeout_ / 3);
    }
  }
  if (!it->second.conn->send(bytes)) {
    ++refused_;
  }
}

std::optional<protocol::Endpoint> TcpLinks::listenEndpoint() const {
  if (!listener_) {
    return std::nullopt;
  }
  return listener_->localEndpoint();
}

void TcpLinks::close(const protocol::Endpoint& to) {
  auto it = links_.find(to);
  if (it != links_.end()) {
    links_.erase(it);  // destroying without close() reports nothing, as the engine asked for it
  }
}

void TcpLinks::closeAll() {
  if (listener_) {
    listener_->close();
    listener_.reset();
  }
  links_.clear();
  sweep_.cancel();
}

void TcpLinks::sweepIdle() {
  Instant now = Clock::now();
  for (auto& [remote, link] : links_) {
    if (now - link.last_rx >= idle_timeout_ && !link.conn->closed()) {
      link.conn->close("idle: no datagram within the idle timeout");
      // on_closed follows on a later loop iteration and erases it
    }
  }
  if (!links_.empty()) {
    sweep_.armAt(now + idle_timeout_ / 3);
  }
}

void TcpLinks::onClosed(stream::FramedConnection& conn, const std::string& reason) {
  protocol::Endpoint remote = conn.remote();
  auto it = links_.find(remote);
  if (it != links_.end() && it->second.conn.get() == &conn) {
    links_.erase(it);  // allowed inside on_closed (framed_connection.hpp)
  }
  LOG_DEBUG("TCP connection with %s ended: %s", remote.toString().c_str(), reason.c_str());
  on_closed_(remote, reason);
}

}  // namespace vpn::client
