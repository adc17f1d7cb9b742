// The rendezvous' TCP edge: listeners, accepted connections carrying framed datagrams (inside
// the outer TLS unless tcp_tls = false), their limits and the sweep of idle ones.
#include <algorithm>

#include "base/log.hpp"
#include "rendezvous/server_impl.hpp"
#include "session/admission.hpp"

namespace vpn::rendezvous {
namespace {

// TCP connections: at most cfg.tcp_max_connections at once and cfg.tcp_max_per_source from one
// IPv4 address or IPv6 /64 (more are closed at accept: each holds buffers and a socket); one that
// carries no session or handshake cfg.tcp_unused_timeout after it was accepted is closed.
// What one connection may have queued for sending (relay traffic to a peer that does not read).
constexpr std::size_t kTcpSendLimit = 1024 * 1024;
// A TCP connection that brings no datagram for this long (peers send at least every refresh) is
// closed; checked every kTcpSweep.
constexpr Duration kTcpSweep = seconds(5);
constexpr Duration kMinTcpIdle = seconds(30);

}  // namespace

std::string Server::Impl::tcpListenText() const {
  std::string out;
  for (const auto& l : tcp_listeners) {
    out += (out.empty() ? "; TCP " : ", ") + l->localEndpoint().toString();
  }
  if (!out.empty() && tcp_tls) {
    out += " (TLS)";
  }
  return out;
}

void Server::Impl::openTcpListener(std::uint8_t index, const protocol::Endpoint& where) {
  stream::FramedConnection::Callbacks cb;
  cb.on_datagram = [this, index](stream::FramedConnection& c, std::span<std::uint8_t> d) {
    onTcpDatagram(index, c, d);
  };
  cb.on_closed = [this](stream::FramedConnection& c, const std::string& reason) {
    onTcpClosed(c, reason);
  };
  tcp_listeners.push_back(stream::FramedListener::open(
      loop, where, tcp_tls ? &*tcp_tls : nullptr,
      [this, index](std::unique_ptr<stream::FramedConnection> c) {
        onTcpAccept(index, std::move(c));
      },
      std::move(cb)));
}

void Server::Impl::openDefaultTcpListeners(const std::vector<protocol::Endpoint>& udp) {
  for (std::size_t i = 0; i < udp.size(); ++i) {
    try {
      openTcpListener(static_cast<std::uint8_t>(i), udp[i]);
    } catch (const net::NetError& e) {
      // Not asked for by name: the server is useful without it, so say so and go on.
      LOG_WARN("no TCP listener at %s (%s): peers whose UDP is blocked cannot fall back to TCP "
               "here; set [rendezvous] tcp_listen to choose where, or [] for none",
               udp[i].toString().c_str(), e.what());
    }
  }
}

std::uint32_t Server::Impl::newConnId() {
  for (;;) {
    std::uint32_t id = next_conn++;
    if (id != 0 && tcp_conns.count(id) == 0) {
      return id;
    }
  }
}

void Server::Impl::onTcpAccept(std::uint8_t listen, std::unique_ptr<stream::FramedConnection> c) {
  if (stopping) {
    return;  // destroyed unopened
  }
  if (tcp_conns.size() >= cfg.tcp_max_connections) {
    ++tcp_info.refused;
    LOG_DEBUG("refused a TCP connection from %s: %zu connections open",
              c->remote().toString().c_str(), tcp_conns.size());
    return;
  }
  protocol::IpAddress source = session::AdmissionLimiter::networkOf(c->remote().address());
  std::size_t& from_source = tcp_per_source[source];
  if (from_source >= cfg.tcp_max_per_source) {
    ++tcp_info.refused_per_source;
    LOG_DEBUG("refused a TCP connection from %s: %zu open from that source",
              c->remote().toString().c_str(), from_source);
    return;
  }
  ++from_source;
  std::uint32_t id = newConnId();
  LOG_DEBUG("TCP connection %u from %s%s", id, c->remote().toString().c_str(),
            c->isTls() ? " (TLS)" : "");
  c->setSendLimit(kTcpSendLimit);
  tcp_ids[c.get()] = id;
  Instant now = Clock::now();
  tcp_conns[id] = TcpConn{std::move(c), listen, now, now, source};
  ++tcp_info.accepted;
}

void Server::Impl::onTcpDatagram(std::uint8_t listen, stream::FramedConnection& c,
                   std::span<std::uint8_t> datagram) {
  if (stopping) {
    return;
  }
  auto it = tcp_ids.find(&c);
  if (it == tcp_ids.end()) {
    return;
  }
  std::uint32_t id = it->second;
  Instant now = Clock::now();
  tcp_conns[id].last_rx = now;
  ++tcp_info.rx_frames;
  engine->onDatagram(now, SocketId{SocketRole::kTcp, listen, id}, c.remote(), datagram);
  tcp_turn->arm();  // afterEvent once per loop iteration, not per datagram
}

void Server::Impl::endOfTcpTurn() {
  if (stopping) {
    return;
  }
  afterEvent();
  for (std::uint32_t id : tcp_corked) {
    if (auto it = tcp_conns.find(id); it != tcp_conns.end()) {
      it->second.conn->uncork();
    }
  }
  tcp_corked.clear();
}

void Server::Impl::onTcpClosed(stream::FramedConnection& c, const std::string& reason) {
  auto it = tcp_ids.find(&c);
  if (it == tcp_ids.end()) {
    return;
  }
  std::uint32_t id = it->second;
  LOG_DEBUG("TCP connection %u from %s closed: %s", id, c.remote().toString().c_str(),
            reason.c_str());
  tcp_ids.erase(it);
  if (auto t = tcp_conns.find(id); t != tcp_conns.end()) {
    auto src = tcp_per_source.find(t->second.source);
    if (src != tcp_per_source.end() && --src->second == 0) {
      tcp_per_source.erase(src);
    }
  }
  tcp_conns.erase(id);  // destroys c: allowed here, and c is not touched after
  if (stopping) {
    return;
  }
  engine->onConnectionClosed(Clock::now(), id);
  afterEvent();
}

Duration Server::Impl::sweepInterval() const {
  return std::min<Duration>(kTcpSweep, Duration(cfg.tcp_unused_timeout) / 2);
}

void Server::Impl::sweepTcp() {
  if (stopping) {
    return;
  }
  Instant now = Clock::now();
  Duration idle = std::max<Duration>(cfg.refresh * 3, kMinTcpIdle);
  for (auto& [id, t] : tcp_conns) {
    if (t.conn->closed()) {
      continue;  // on_closed follows on a later iteration
    }
    if (now - t.last_rx > idle) {
      ++tcp_info.idle_closed;
      t.conn->close("idle");
    } else if (now - t.accepted_at > cfg.tcp_unused_timeout && !engine->connectionInUse(id)) {
      // Bytes alone (junk frames) do not keep a connection: a session or handshake must.
      ++tcp_info.unused_closed;
      t.conn->close("no session");
    }
  }
  tcp_sweep->armAt(now + sweepInterval());
}

}  // namespace vpn::rendezvous
