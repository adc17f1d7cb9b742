#include "rendezvous/server.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/log.hpp"
#include "base/time.hpp"
#include "crypto/credential_reload.hpp"
#include "crypto/network_key.hpp"
#include "net/http_server.hpp"
#include "os/privileges.hpp"
#include "os/process_stats.hpp"
#include "rendezvous/metrics.hpp"
#include "os/service_notify.hpp"
#include "crypto/tls_context.hpp"
#include "net/event_loop.hpp"
#include "net/signal_watcher.hpp"
#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/unix_server.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/relay_packet.hpp"
#include "rendezvous/config_reload.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "rendezvous/status.hpp"
#include "session/admission.hpp"
#include "stream/framed_listener.hpp"

namespace vpn::rendezvous {
namespace {

// Handshake packets (< 1300 bytes), control packets (<= 1229) and STUN (< 600) are small, but
// relay packets carry the peers' data packets: up to a 9000-byte inner MTU, as the peer allows.
constexpr std::size_t kMaxDatagram =
    9000 + protocol::kDataOverhead + 64 + protocol::kRelayHeaderSize;
// TCP connections: at most cfg.tcp_max_connections at once and cfg.tcp_max_per_source from one
// IPv4 address or IPv6 /64 (more are closed at accept: each holds buffers and a socket); one that
// carries no session or handshake cfg.tcp_unused_timeout after it was accepted is closed.
// What one connection may have queued for sending (relay traffic to a peer that does not read).
constexpr std::size_t kTcpSendLimit = 1024 * 1024;
// A TCP connection that brings no datagram for this long (peers send at least every refresh) is
// closed; checked every kTcpSweep.
constexpr Duration kTcpSweep = seconds(5);
constexpr Duration kMinTcpIdle = seconds(30);

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

}  // namespace

struct Server::Impl final : RendezvousSink {
  struct Socket {
    SocketId id;
    std::unique_ptr<net::UvUdpTransport> udp;
  };

  config::RendezvousConfig cfg;
  net::EventLoop loop;
  Instant started = Clock::now();
  std::unique_ptr<crypto::TlsContext> tls;
  std::optional<crypto::CredentialReload> credentials;  // which files a reload reads again
  std::vector<Socket> sockets;  // primaries first, by listen index, then the alternates
  std::unique_ptr<RendezvousEngine> engine;
  os::ServiceNotifier notifier;  // systemd: readiness, reload, watchdog
  std::unique_ptr<net::HttpServer> metrics_http;  // [metrics] listen
  std::unique_ptr<net::Timer> watchdog_timer;
  std::unique_ptr<net::Timer> timer;
  std::unique_ptr<net::SignalWatcher> signals;
  std::unique_ptr<net::UnixServer> control;
  std::uint64_t no_socket_drops = 0;
  bool stopping = false;

  // TCP: the outer TLS context outlives the listeners and connections declared after it.
  struct TcpConn {
    std::unique_ptr<stream::FramedConnection> conn;
    std::uint8_t listen = 0;
    Instant last_rx{};
    Instant accepted_at{};
    protocol::IpAddress source;  // the per-source key (session::AdmissionLimiter::networkOf)
  };
  std::unordered_map<protocol::IpAddress, std::size_t, protocol::IpAddressHash> tcp_per_source;
  std::optional<crypto::TlsStreamContext> tcp_tls;
  std::vector<std::unique_ptr<stream::FramedListener>> tcp_listeners;
  std::unordered_map<std::uint32_t, TcpConn> tcp_conns;
  std::unordered_map<const stream::FramedConnection*, std::uint32_t> tcp_ids;
  std::uint32_t next_conn = 1;
  std::unique_ptr<net::Timer> tcp_sweep;
  TcpInfo tcp_info;

  explicit Impl(config::RendezvousConfig c) try : cfg(std::move(c)) {
  } catch (const net::NetError& e) {
    throw StartupError(e.what());
  }

  ~Impl() override {
    teardown();
    engine.reset();
    sockets.clear();
    tcp_ids.clear();
    tcp_conns.clear();
    tcp_listeners.clear();
    control.reset();
    loop.drain();
  }

  void openSocket(SocketId id, const protocol::Endpoint& where) {
    auto udp = net::UvUdpTransport::open(
        loop, where, kMaxDatagram,
        [this, id](std::span<net::ReceivedDatagram> batch) { onBatch(id, batch); },
        net::UdpOffloads{cfg.udp_gso, cfg.udp_gro});
    sockets.push_back(Socket{id, std::move(udp)});
  }

  static crypto::TlsContextOptions tlsOptions(const config::RendezvousConfig& c) {
    crypto::TlsContextOptions topt;
    topt.ca_cert = c.ca;
    topt.cert = c.cert;
    topt.key = c.key;
    return topt;
  }

  void start() {
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
    if (!cfg.tcp_listen.empty() && cfg.tcp_tls) {
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
  void onWatchdog() {
    notifier.watchdog();
    watchdog_timer->armAt(Clock::now() + notifier.watchdogPeriod());
  }

  // SIGHUP: the file again (rendezvous/config_reload.hpp says what applies). A file with errors,
  // or credentials that cannot be used, refuse the whole reload before anything changes.
  void reload() {
    LOG_INFO("received SIGHUP, reloading %s", cfg.source.c_str());
    notifier.reloading();
    auto refuse = [&](const std::string& why) {
      LOG_ERROR("reload of %s failed, keeping the running configuration: %s", cfg.source.c_str(),
                why.c_str());
      notifier.ready("reload failed; running with the previous configuration");
    };
    auto fresh = config::loadRendezvousConfig(cfg.source);
    if (!fresh.ok()) {
      return refuse(fresh.error().front().toString());
    }
    // Read only when changed: an unchanged key may be one the dropped user cannot read.
    const crypto::TlsContextOptions topt = tlsOptions(*fresh);
    std::unique_ptr<crypto::TlsContext> renewed;
    std::optional<crypto::TlsStreamContext> renewed_tcp;
    if (credentials->changed(topt)) {
      try {
        renewed = credentials->load(topt, *tls);
        if (!renewed->identity().rendezvous_role) {
          return refuse("certificate " + fresh->cert.string() + " is not a rendezvous certificate");
        }
        if (tcp_tls) {
          renewed_tcp.emplace(crypto::TlsStreamContext::server(fresh->cert, fresh->key));
        }
      } catch (const crypto::CryptoError& e) {
        return refuse(e.what());
      }
    }
    Instant now = Clock::now();
    std::string done;
    if (renewed) {
      tls->adopt(std::move(renewed));
      if (renewed_tcp) {
        // Same object, so the listeners' pointer stays; open connections keep the old one.
        *tcp_tls = std::move(*renewed_tcp);
      }
      credentials->remember(topt);
      cfg.ca = fresh->ca;
      cfg.cert = fresh->cert;
      cfg.key = fresh->key;
      done += "certificate " + cfg.cert.string() + " (" + tls->identity().fingerprint.substr(0, 16) +
              "...) used from the next handshake; ";
    }
    engine->setLimits(now, limitOptions(*fresh));
    cfg.refresh = fresh->refresh;
    cfg.relay = fresh->relay;
    cfg.tcp_max_connections = fresh->tcp_max_connections;
    cfg.tcp_max_per_source = fresh->tcp_max_per_source;
    cfg.tcp_unused_timeout = fresh->tcp_unused_timeout;
    if (fresh->log_level != cfg.log_level) {
      log::Level level{};
      if (log::parseLevel(fresh->log_level, level)) {
        log::setLevel(level);  // a --log-level override stays until the file's value changes
      }
      cfg.log_level = fresh->log_level;
    }
    cfg.blocklist = fresh->blocklist;
    tls->setBlocklist(cfg.blocklist);
    std::size_t closed = engine->closeBlocked(now);
    LOG_INFO("reloaded %s: %slimits and relay (%s) applied; %zu certificate(s) on the blocklist, "
             "%zu session(s) closed",
             cfg.source.c_str(), done.c_str(), cfg.relay.enabled ? "on" : "off",
             cfg.blocklist.size(), closed);
    if (auto restart = restartOnlyChanges(cfg, *fresh); !restart.empty()) {
      std::string keys;
      for (const auto& k : restart) {
        keys += (keys.empty() ? "" : ", ") + k;
      }
      LOG_WARN("%s changed; needs a restart (the running values stay)", keys.c_str());
    }
    notifier.ready("reloaded");
    afterEvent();
  }

  // Every socket is bound and every key read: become the configured user with no capability at
  // all (binding port 443 was the last thing that needed one).
  void dropRoot() {
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

  std::string listenText() const {
    std::string out;
    for (const auto& s : sockets) {
      out += (out.empty() ? "" : ", ") + s.udp->localEndpoint().toString();
      if (s.id.role != SocketRole::kPrimary) {
        out += std::string(" (") + roleName(s.id.role) + ")";
      }
    }
    return out;
  }

  std::string tcpListenText() const {
    std::string out;
    for (const auto& l : tcp_listeners) {
      out += (out.empty() ? "; TCP " : ", ") + l->localEndpoint().toString();
    }
    if (!out.empty() && tcp_tls) {
      out += " (TLS)";
    }
    return out;
  }

  void openTcpListener(std::uint8_t index, const protocol::Endpoint& where) {
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

  std::uint32_t newConnId() {
    for (;;) {
      std::uint32_t id = next_conn++;
      if (id != 0 && tcp_conns.count(id) == 0) {
        return id;
      }
    }
  }

  void onTcpAccept(std::uint8_t listen, std::unique_ptr<stream::FramedConnection> c) {
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

  void onTcpDatagram(std::uint8_t listen, stream::FramedConnection& c,
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
    afterEvent();
  }

  void onTcpClosed(stream::FramedConnection& c, const std::string& reason) {
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

  Duration sweepInterval() const {
    return std::min<Duration>(kTcpSweep, Duration(cfg.tcp_unused_timeout) / 2);
  }

  void sweepTcp() {
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

  void stop() {
    if (stopping) {
      return;
    }
    stopping = true;
    notifier.stopping();
    teardown();
  }

  void teardown() {
    watchdog_timer.reset();
    metrics_http.reset();
    signals.reset();
    timer.reset();
    tcp_sweep.reset();
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

  void afterEvent() {
    if (stopping) {
      return;
    }
    for (auto& s : sockets) {
      s.udp->flush();
    }
    timer->armAt(engine->nextDeadline());
  }

  void onBatch(SocketId id, std::span<net::ReceivedDatagram> batch) {
    if (stopping) {
      return;
    }
    Instant now = Clock::now();
    for (auto& d : batch) {
      engine->onDatagram(now, id, d.from, d.data);
    }
    afterEvent();
  }

  void onTimer() {
    if (stopping) {
      return;
    }
    engine->onTimer(Clock::now());
    afterEvent();
  }

  std::string onControl(std::string_view line) {
    std::string error;
    auto format = parseStatusRequest(line, error);
    if (!format) {
      return error;
    }
    Instant now = Clock::now();
    auto st = engine->status(now);
    ServerInfo info = serverInfo(now);
    return okResponse(*format == StatusFormat::kJson ? renderStatusJson(info, st)
                                                     : renderStatusText(info, st));
  }

  ServerInfo serverInfo(Instant now) const {
    ServerInfo info;
    info.name = tls->identity().name;
    info.cert_fingerprint = tls->identity().fingerprint;
    info.cert_not_after = crypto::formatUtc(tls->identity().not_after);
    info.relay = cfg.relay.enabled;
    info.refresh_s = static_cast<double>(cfg.refresh.count());
    for (const auto& s : sockets) {
      info.listen.push_back(std::string(roleName(s.id.role)) + " " +
                            s.udp->localEndpoint().toString());
      auto st = s.udp->stats();
      info.udp_rx_packets += st.rx_packets;
      info.udp_tx_packets += st.tx_packets;
      info.udp_tx_dropped += st.tx_dropped;
      info.gso_datagrams += st.tx_gso_datagrams;
      info.gro_datagrams += st.rx_gro_datagrams;
    }
    if (!sockets.empty()) {
      info.udp_gso = sockets.front().udp->offloads().gso;
      info.udp_gro = sockets.front().udp->offloads().gro;
    }
    info.udp_tx_dropped += no_socket_drops;
    for (const auto& l : tcp_listeners) {
      info.listen.push_back(std::string("tcp ") + l->localEndpoint().toString() +
                            (l->isTls() ? " (tls)" : ""));
    }
    info.tcp = tcp_info;
    info.tcp.connections = tcp_conns.size();
    info.uptime_s = toSeconds(now - started);
    return info;
  }

  // GET /metrics: the counters as Prometheus text (per-peer lists are left out: cheap at 100k).
  std::optional<std::string> onMetrics(std::string_view path) {
    if (path != "/metrics") {
      return std::nullopt;
    }
    Instant now = Clock::now();
    return renderMetrics(serverInfo(now), engine->status(now, false), os::readProcessStats());
  }

  // RendezvousSink
  void sendFrom(SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override {
    if (from.role == SocketRole::kTcp) {
      auto it = tcp_conns.find(from.conn);
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
};

Server::Server(config::RendezvousConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

Server::~Server() = default;

int Server::run() {
  impl_->start();
  impl_->loop.run();
  LOG_INFO("rendezvous is down");
  return 0;
}

}  // namespace vpn::rendezvous
