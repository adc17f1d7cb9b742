#include "rendezvous/server.hpp"

#include <csignal>
#include <vector>

#include "base/log.hpp"
#include "base/time.hpp"
#include "crypto/tls_context.hpp"
#include "net/event_loop.hpp"
#include "net/signal_watcher.hpp"
#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/unix_server.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "rendezvous/status.hpp"

namespace vpn::rendezvous {
namespace {

// Handshake packets (< 1300 bytes), control packets (<= 1229) and STUN (< 600) all fit.
constexpr std::size_t kMaxDatagram = 2048;

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
  std::vector<Socket> sockets;  // primaries first, by listen index, then the alternates
  std::unique_ptr<RendezvousEngine> engine;
  std::unique_ptr<net::Timer> timer;
  std::unique_ptr<net::SignalWatcher> signals;
  std::unique_ptr<net::UnixServer> control;
  std::uint64_t no_socket_drops = 0;
  bool stopping = false;

  explicit Impl(config::RendezvousConfig c) try : cfg(std::move(c)) {
  } catch (const net::NetError& e) {
    throw StartupError(e.what());
  }

  ~Impl() override {
    teardown();
    engine.reset();
    sockets.clear();
    control.reset();
    loop.drain();
  }

  void openSocket(SocketId id, const protocol::Endpoint& where) {
    auto udp = net::UvUdpTransport::open(
        loop, where, kMaxDatagram, [this, id](std::span<net::ReceivedDatagram> batch) {
          onBatch(id, batch);
        });
    sockets.push_back(Socket{id, std::move(udp)});
  }

  void start() {
    crypto::TlsContextOptions topt;
    topt.ca_cert = cfg.ca;
    topt.cert = cfg.cert;
    topt.key = cfg.key;
    try {
      tls = crypto::TlsContext::create(topt);
    } catch (const crypto::CryptoError& e) {
      throw StartupError(e.what());
    }
    if (!tls->identity().rendezvous_role) {
      throw StartupError("certificate " + cfg.cert.string() + " ('" + tls->identity().name +
                         "') is not a rendezvous certificate; sign one with `vpnpeer cert sign "
                         "--rendezvous`");
    }

    RendezvousOptions opts;
    opts.refresh = cfg.refresh;
    opts.handshake_per_second = cfg.handshake_rate;
    opts.handshake_burst = cfg.handshake_burst;
    opts.lookup_per_second = cfg.lookup_rate;
    opts.lookup_burst = cfg.lookup_burst;
    opts.max_pending_handshakes = cfg.max_pending_handshakes;
    opts.alt_port = cfg.alt_port;
    opts.alt_address = cfg.alt_address;
    opts.stun_listen = static_cast<std::uint8_t>(cfg.stun_listen);
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
    try {
      engine = std::make_unique<RendezvousEngine>(*tls, opts, *this);
    } catch (const std::invalid_argument& e) {
      throw StartupError(e.what());
    }
    timer = std::make_unique<net::Timer>(loop, [this] { onTimer(); });
    signals = std::make_unique<net::SignalWatcher>(
        loop, std::vector<int>{SIGINT, SIGTERM}, [this](int sig) {
          LOG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
          stop();
        });
    LOG_INFO("rendezvous %s is up: UDP %s, refresh %lld s", tls->identity().name.c_str(),
             listenText().c_str(), static_cast<long long>(cfg.refresh.count()));
    afterEvent();
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

  void stop() {
    if (stopping) {
      return;
    }
    stopping = true;
    teardown();
  }

  void teardown() {
    signals.reset();
    timer.reset();
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
    ServerInfo info;
    info.name = tls->identity().name;
    for (const auto& s : sockets) {
      info.listen.push_back(std::string(roleName(s.id.role)) + " " +
                            s.udp->localEndpoint().toString());
      auto st = s.udp->stats();
      info.udp_rx_packets += st.rx_packets;
      info.udp_tx_packets += st.tx_packets;
      info.udp_tx_dropped += st.tx_dropped;
    }
    info.udp_tx_dropped += no_socket_drops;
    info.uptime_s = toSeconds(now - started);
    auto st = engine->status(now);
    return okResponse(*format == StatusFormat::kJson ? renderStatusJson(info, st)
                                                     : renderStatusText(info, st));
  }

  // RendezvousSink
  void sendFrom(SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override {
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
