#include "client/tcp_links.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "session/admission.hpp"

namespace vpn::client {

TcpLinks::TcpLinks(uv_loop_t& loop, OnDatagram on_datagram, OnClosed on_closed, IsUsed is_used,
                   Limits limits)
    : loop_(loop),
      on_datagram_(std::move(on_datagram)),
      on_closed_(std::move(on_closed)),
      is_used_(std::move(is_used)),
      limits_(limits),
      sweep_(loop, [this] { sweepIdle(); }),
      turn_(loop, [this] { endOfTurn(); }) {}

void TcpLinks::endOfTurn() {
  if (received_) {
    received_ = false;
    if (on_batch_end_) {
      on_batch_end_();  // may send: flushed below
    }
  }
  flush();
}

void TcpLinks::flush() {
  for (const auto& to : corked_) {
    if (auto it = links_.find(to); it != links_.end()) {
      it->second.conn->uncork();
    }
  }
  corked_.clear();
}

std::size_t TcpLinks::acceptedFrom(const protocol::IpAddress& source) const {
  std::size_t n = 0;
  for (const auto& [remote, link] : links_) {
    n += link.accepted && session::AdmissionLimiter::networkOf(remote.address()) == source ? 1u : 0u;
  }
  return n;
}

TcpLinks::~TcpLinks() { closeAll(); }

stream::FramedConnection::Callbacks TcpLinks::callbacks() {
  stream::FramedConnection::Callbacks cb;
  cb.on_datagram = [this](stream::FramedConnection& c, std::span<std::uint8_t> d) {
    // Copy the key: the callee may close (and we may destroy) the connection.
    protocol::Endpoint from = c.remote();
    if (auto it = links_.find(from); it != links_.end()) {
      it->second.last_rx = Clock::now();
    }
    received_ = true;
    turn_.arm();
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
  if (links_.size() >= limits_.max_links) {
    ++counters_.refused;
    LOG_DEBUG("refused a TCP connection from %s: %zu connections open",
              remote.toString().c_str(), links_.size());
    return;  // destroyed: closed
  }
  if (acceptedFrom(session::AdmissionLimiter::networkOf(remote.address())) >=
      limits_.max_per_source) {
    ++counters_.refused_per_source;
    LOG_DEBUG("refused a TCP connection from %s: too many from that source",
              remote.toString().c_str());
    return;
  }
  LOG_DEBUG("TCP connection from %s", remote.toString().c_str());
  conn->setSendLimit(limits_.accepted_send_limit);
  Instant now = Clock::now();
  links_.emplace(remote, Link{std::move(conn), now, now, true});
  ++counters_.accepted;
  armSweep(now);
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
    Instant now = Clock::now();
    it = links_.emplace(to, Link{std::move(conn), now, now, false}).first;
    armSweep(now);
  }
  stream::FramedConnection& conn = *it->second.conn;
  if (!conn.corked()) {
    conn.cork();
    corked_.push_back(to);
    turn_.arm();
  }
  if (!conn.send(bytes)) {
    ++counters_.refused_sends;
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
  corked_.clear();
  sweep_.cancel();
}

void TcpLinks::armSweep(Instant now) {
  if (!sweep_.armed()) {
    sweep_.armAt(now + std::min(limits_.idle_timeout, limits_.unused_timeout) / 3);
  }
}

void TcpLinks::sweepIdle() {
  Instant now = Clock::now();
  for (auto& [remote, link] : links_) {
    if (link.conn->closed()) {
      continue;  // on_closed follows on a later loop iteration and erases it
    }
    if (now - link.last_rx >= limits_.idle_timeout) {
      ++counters_.idle_closed;
      link.conn->close("idle: no datagram within the idle timeout");
    } else if (link.accepted && is_used_ && now - link.opened >= limits_.unused_timeout &&
               !is_used_(remote)) {
      ++counters_.unused_closed;
      link.conn->close("unused: no session or handshake on it");
    }
  }
  if (!links_.empty()) {
    armSweep(now);
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
