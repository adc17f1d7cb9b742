#pragma once
// Private to the rendezvous program (rendezvous/server*.cpp): Server::Impl, the composition
// root's state and handlers, split over files by concern:
//   server.cpp          start-up, privilege drop, UDP sockets, the loop's events, the sink;
//   server_tcp.cpp      TCP listeners and connections (framed datagrams, optional outer TLS);
//   server_control.cpp  SIGHUP reload, the control socket (status) and GET /metrics.
// Ownership: the Server owns its Impl; every handle belongs to `loop` and goes before it.
// Threading: the loop's thread only.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/time.hpp"
#include "config/rendezvous_config.hpp"
#include "crypto/credential_reload.hpp"
#include "crypto/tls_context.hpp"
#include "crypto/tls_stream.hpp"
#include "net/end_of_turn.hpp"
#include "net/event_loop.hpp"
#include "net/http_server.hpp"
#include "net/signal_watcher.hpp"
#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/unix_server.hpp"
#include "os/service_notify.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "rendezvous/server.hpp"
#include "rendezvous/status.hpp"
#include "stream/framed_connection.hpp"
#include "stream/framed_listener.hpp"

namespace vpn::rendezvous {

// "primary", "alt-port", ... for listen lists (server.cpp).
const char* roleName(SocketRole r);

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
  // Datagrams to TCP connections are gathered per loop iteration (FramedConnection::cork) and
  // written once at its end, where the per-event work for TCP datagrams is done too.
  std::unique_ptr<net::EndOfTurn> tcp_turn;
  std::vector<std::uint32_t> tcp_corked;
  TcpInfo tcp_info;

  explicit Impl(config::RendezvousConfig c);
  ~Impl() override;

  // server.cpp
  void openSocket(SocketId id, const protocol::Endpoint& where);
  static crypto::TlsContextOptions tlsOptions(const config::RendezvousConfig& c);
  void start();
  void onWatchdog();
  void dropRoot();
  std::string listenText() const;
  void stop();
  void teardown();
  void afterEvent();
  void onBatch(SocketId id, std::span<net::ReceivedDatagram> batch);
  void onTimer();
  void sendFrom(SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override;

  // server_tcp.cpp
  std::string tcpListenText() const;
  void openTcpListener(std::uint8_t index, const protocol::Endpoint& where);
  // No tcp_listen key: a TCP listener at each bound UDP address; a failure is only warned about.
  void openDefaultTcpListeners(const std::vector<protocol::Endpoint>& udp);
  std::uint32_t newConnId();
  void onTcpAccept(std::uint8_t listen, std::unique_ptr<stream::FramedConnection> c);
  void onTcpDatagram(std::uint8_t listen, stream::FramedConnection& c,
                     std::span<std::uint8_t> datagram);
  void onTcpClosed(stream::FramedConnection& c, const std::string& reason);
  Duration sweepInterval() const;
  void sweepTcp();
  void endOfTcpTurn();

  // server_control.cpp
  void reload();
  std::string onControl(std::string_view line);
  ServerInfo serverInfo(Instant now) const;
  std::optional<std::string> onMetrics(std::string_view path);
};

}  // namespace vpn::rendezvous
