#include "rendezvous/server_impl.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <vector>

#include "base/log.hpp"
#include "base/time.hpp"
#include "crypto/network_key.hpp"
#include "os/privileges.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/relay_packet.hpp"
#include "rendezvous/config_reload.hpp"

namespace vpn::rendezvous {
namespace {

// Handshake packets (< 1300 bytes), control packets (<= 1229) and STUN (< 600) are small, but
// relay packets carry the peers' data packets: up to a 9000-byte inner MTU, as the peer allows.
constexpr std::size_t kMaxDatagram =
    9000 + protocol::kDataOverhead + 64 + protocol::kRelayHeaderSize;

}  // namespace

const char* roleName(SocketRole r) {
  switch (r) {
    case SocketRole::kPrimary:
      return "primary";
    case SocketRole::kAltPort:
      return "alt-port";
    case SocketRole::kAltAddress:
      return "alt-address";
    case SocketRole::kAltBoth:
      return "alt-both";
    case SocketRole::kTcp:
      return "tcp";
  }
  return "?";
}

Server::Impl::Impl(config::RendezvousConfig c) try : cfg(std::move(c)) {
} catch (const net::NetError& e) {
  throw StartupError(e.what());
}

Server::Impl::~Impl() {
  teardown();
  engine.reset();
  sockets.clear();
  tcp_ids.clear();
  tcp_conns.clear();
  tcp_listeners.clear();
  control.reset();
  loop.drain();
}

void Server::Impl::openSocket(SocketId id, const protocol::Endpoint& where) {
  auto udp = net::UvUdpTransport::open(
      loop, where, kMaxDatagram,
      [this, id](std::span<net::ReceivedDatagram> batch) { onBatch(id, batch); },
      net::UdpOffloads{cfg.udp_gso, cfg.udp_gro});
  sockets.push_back(Socket{id, std::move(udp)});
}

crypto::TlsContextOptions Server::Impl::tlsOptions(const config::RendezvousConfig& c) {
  crypto::TlsContextOptions topt;
  topt.ca_cert = c.ca;
  topt.cert = c.cert;
  topt.key = c.key;
  return topt;
}

void Server::Impl::start() {
  crypto::TlsContextOptions topt = tlsOptions(cfg);
  try {
    tls = crypto::TlsContext::create(topt);
    credentials.emplace(topt);
  } catch (const crypto::CryptoError& e) {
    throw StartupError(e.what());
  }
  if (!tls->identity().rendezvous_role) {
    throw StartupError("certificate " + cfg.cert.string() + " ('" + tls->identity().name +
                       "') is not a rendezvous certificate; sign one with `vpnpeer cert sign "
                       "--rendezvous`");
  }

  RendezvousOptions opts = limitOptions(cfg);
  try {
    opts.network_key =
        crypto::loadNetworkKey(cfg.network_key_from_ca, cfg.network_key_file, cfg.ca);
  } catch (const crypto::CryptoError& e) {
    throw StartupError(e.what());
  }
  opts.alt_port = cfg.alt_port;
  opts.alt_address = cfg.alt_address;
  opts.stun_listen = static_cast<std::uint8_t>(cfg.stun_listen);
  if ((!cfg.tcp_listen.empty() || cfg.tcp_listen_default) && cfg.tcp_tls) {
    try {
      tcp_tls.emplace(crypto::TlsStreamContext::server(cfg.cert, cfg.key));
    } catch (const crypto::CryptoError& e) {
      throw StartupError(std::string("TLS for the TCP listeners: ") + e.what());
    }
  }
  try {
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      openSocket(SocketId{SocketRole::kPrimary, static_cast<std::uint8_t>(i)}, cfg.listen[i]);
      opts.listen.push_back(sockets.back().udp->localEndpoint());
    }
    const protocol::Endpoint primary = opts.listen.at(cfg.stun_listen);
    auto stun = static_cast<std::uint8_t>(cfg.stun_listen);
    if (cfg.alt_port) {
      openSocket(SocketId{SocketRole::kAltPort, stun},
                 protocol::Endpoint(primary.address(), *cfg.alt_port));
    }
    if (cfg.alt_address) {
      openSocket(SocketId{SocketRole::kAltAddress, stun},
                 protocol::Endpoint(*cfg.alt_address, primary.port()));
    }
    if (cfg.alt_port && cfg.alt_address) {
      openSocket(SocketId{SocketRole::kAltBoth, stun},
                 protocol::Endpoint(*cfg.alt_address, *cfg.alt_port));
    }
    for (std::size_t i = 0; i < cfg.tcp_listen.size(); ++i) {
      openTcpListener(static_cast<std::uint8_t>(i), cfg.tcp_listen[i]);
    }
    if (cfg.tcp_listen_default) {
      openDefaultTcpListeners(opts.listen);
    }
    if (cfg.control_socket) {
      control = net::UnixServer::listen(loop, *cfg.control_socket,
                                        [this](std::string_view req) { return onControl(req); });
    }
  } catch (const net::NetError& e) {
    // net's messages name the peer file's key; point at ours instead.
    std::string msg = e.what();
    if (auto at = msg.find("[peer] listen"); at != std::string::npos) {
      msg.replace(at, 13, "[rendezvous] listen");
    }
    throw StartupError(msg);
  }
  tls->setBlocklist(cfg.blocklist);
  if (cfg.metrics_listen) {
    try {
      metrics_http = net::HttpServer::listen(
          loop, *cfg.metrics_listen,
          [this](std::string_view path) { return onMetrics(path); }, {});
    } catch (const net::NetError& e) {
      throw StartupError(std::string("[metrics] listen: ") + e.what());
    }
  }
  try {
    engine = std::make_unique<RendezvousEngine>(*tls, opts, *this);
  } catch (const std::invalid_argument& e) {
    throw StartupError(e.what());
  }
  timer = std::make_unique<net::Timer>(loop, [this] { onTimer(); });
  tcp_turn = std::make_unique<net::EndOfTurn>(loop, [this] { endOfTcpTurn(); });
  if (!tcp_listeners.empty()) {
    tcp_sweep = std::make_unique<net::Timer>(loop, [this] { sweepTcp(); });
    tcp_sweep->armAt(Clock::now() + sweepInterval());
  }
  signals = std::make_unique<net::SignalWatcher>(
      loop, std::vector<int>{SIGINT, SIGTERM, SIGHUP}, [this](int sig) {
        if (sig == SIGHUP) {
          reload();
          return;
        }
        LOG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        stop();
      });
  LOG_INFO("rendezvous %s is up: UDP %s%s, refresh %lld s, relay %s",
           tls->identity().name.c_str(), listenText().c_str(), tcpListenText().c_str(),
           static_cast<long long>(cfg.refresh.count()), cfg.relay.enabled ? "on" : "off");
  if (metrics_http) {
    LOG_INFO("metrics on http://%s/metrics", metrics_http->localEndpoint().toString().c_str());
  }
  if (auto st = engine->status(Clock::now(), false); !st.network_key.empty()) {
    LOG_INFO("network key: %s, fingerprint %s; only sealed handshakes and STUN are answered",
             st.network_key == "ca" ? "derived from the CA certificate"
                                    : cfg.network_key_file.string().c_str(),
             st.network_key_fingerprint.c_str());
  }
  dropRoot();
  afterEvent();
  notifier.ready("rendezvous " + tls->identity().name + " is up: UDP " + listenText());
  if (notifier.watchdogPeriod().count() > 0) {
    watchdog_timer = std::make_unique<net::Timer>(loop, [this] { onWatchdog(); });
    onWatchdog();
  }
}

// From the loop itself, so a stuck loop stops the keep-alives and systemd restarts us.
void Server::Impl::onWatchdog() {
  notifier.watchdog();
  watchdog_timer->armAt(Clock::now() + notifier.watchdogPeriod());
}

// Every socket is bound and every key read: become the configured user with no capability at
// all (binding port 443 was the last thing that needed one).
void Server::Impl::dropRoot() {
  try {
    os::RunAs to = os::lookupRunAs(cfg.user);
    if (to.switches && control) {
      if (auto err = control->giveTo(to.uid, to.gid); !err.empty()) {
        LOG_WARN("%s; the control socket will stay behind at exit", err.c_str());
      }
    }
    os::DropResult r = os::dropPrivileges(os::DropRequest{to, {}});
    if (r.switched || ::geteuid() != 0) {
      LOG_INFO("running as user %s, capabilities: %s", r.user.c_str(), r.kept.c_str());
    } else {
      LOG_WARN("running as root with every capability (user = \"root\" in the file)");
    }
  } catch (const os::PrivilegeError& e) {
    throw StartupError(e.what());
  }
}

std::string Server::Impl::listenText() const {
  std::string out;
  for (const auto& s : sockets) {
    out += (out.empty() ? "" : ", ") + s.udp->localEndpoint().toString();
    if (s.id.role != SocketRole::kPrimary) {
      out += std::string(" (") + roleName(s.id.role) + ")";
    }
  }
  return out;
}

void Server::Impl::stop() {
  if (stopping) {
    return;
  }
  stopping = true;
  notifier.stopping();
  teardown();
}

void Server::Impl::teardown() {
  watchdog_timer.reset();
  metrics_http.reset();
  signals.reset();
  timer.reset();
  tcp_sweep.reset();
  tcp_turn.reset();
  for (auto& l : tcp_listeners) {
    l->close();
  }
  for (auto& [id, t] : tcp_conns) {
    t.conn->close("shutting down");
  }
  for (auto& s : sockets) {
    s.udp->flush();
    s.udp->close();
  }
  if (control) {
    control->close();
  }
}

void Server::Impl::afterEvent() {
  if (stopping) {
    return;
  }
  for (auto& s : sockets) {
    s.udp->flush();
  }
  timer->armAt(engine->nextDeadline());
}

void Server::Impl::onBatch(SocketId id, std::span<net::ReceivedDatagram> batch) {
  if (stopping) {
    return;
  }
  Instant now = Clock::now();
  for (auto& d : batch) {
    engine->onDatagram(now, id, d.from, d.data);
  }
  afterEvent();
}

void Server::Impl::onTimer() {
  if (stopping) {
    return;
  }
  engine->onTimer(Clock::now());
  afterEvent();
}

// RendezvousSink
void Server::Impl::sendFrom(SocketId from, const protocol::Endpoint& to,
              std::span<const std::uint8_t> bytes) {
  if (from.role == SocketRole::kTcp) {
    auto it = tcp_conns.find(from.conn);
    if (it != tcp_conns.end() && !it->second.conn->corked() && tcp_turn) {
      it->second.conn->cork();
      tcp_corked.push_back(from.conn);
      tcp_turn->arm();
    }
    if (it == tcp_conns.end() || !it->second.conn->send(bytes)) {
      ++tcp_info.tx_dropped;  // gone (its close is on the way to the engine) or queue full
      return;
    }
    ++tcp_info.tx_frames;
    return;
  }
  for (auto& s : sockets) {
    if (s.id == from) {
      s.udp->send(to, bytes);
      return;
    }
  }
  ++no_socket_drops;  // the engine asked for a socket we did not open: a bug, counted
}

Server::Server(config::RendezvousConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

Server::~Server() = default;

int Server::run() {
  impl_->start();
  impl_->loop.run();
  LOG_INFO("rendezvous is down");
  return 0;
}

}  // namespace vpn::rendezvous
