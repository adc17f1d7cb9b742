#pragma once
// Private to the peer daemon (client/daemon*.cpp): Daemon::Impl, the composition root's state
// and its handlers, split over files by concern:
//   daemon.cpp          start-up, privilege drop, the loop's events, the engine's edges;
//   daemon_control.cpp  the control socket (status, explain, down, reload) and GET /metrics;
//   daemon_reload.cpp   SIGHUP and `vpnpeer reload`: the peer file again;
//   daemon_tun.cpp      the TUN edge; daemon_workers.cpp  the worker threads (AeadBatch);
//   daemon_portmap.cpp  the router's port mapping (PortMapper) on the tunnel socket.
// Ownership: the Daemon owns its Impl; every handle below belongs to `loop` and is destroyed
// before it. Threading: the loop's thread only; the handlers run from libuv callbacks.
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/time.hpp"
#include "client/daemon.hpp"
#include "client/engine/engine.hpp"
#include "client/engine/engine_sink.hpp"
#include "client/lifetime_probe.hpp"
#include "client/prediction_sockets.hpp"
#include "client/nat_probe.hpp"
#include "client/network_watch.hpp"
#include "client/portmap/port_mapper.hpp"
#include "client/rendezvous_addresses.hpp"
#include "client/status_render.hpp"
#include "client/tcp_links.hpp"
#include "config/peer_config.hpp"
#include "crypto/credential_reload.hpp"
#include "crypto/network_key.hpp"
#include "crypto/tls_context.hpp"
#include "net/event_loop.hpp"
#include "net/fd_watcher.hpp"
#include "net/http_server.hpp"
#include "net/resolver.hpp"
#include "net/signal_watcher.hpp"
#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/upnp/upnp_igd.hpp"
#include "net/work_queue.hpp"
#include "net/unix_server.hpp"
#include "os/service_notify.hpp"
#include "protocol/sealed_packet.hpp"
#include "session/outer_seal.hpp"
#include "session/aead_batch.hpp"
#include "tun/linux_tun_device.hpp"
#include "tun/default_gateway.hpp"
#include "tun/tcp_coalescer.hpp"

namespace vpn::client {

// With TSO one TUN read holds a virtio header and up to 64 KiB (daemon_tun.cpp).
inline constexpr std::size_t kTunReadBufferSize = tun::kVnetHeaderSize + 65536;

// The engine's and the TLS context's settings from a peer file (daemon.cpp).
EngineOptions engineOptions(const config::PeerConfig& cfg);
crypto::TlsContextOptions tlsOptions(const config::PeerConfig& cfg);

struct Daemon::Impl final : EngineSink {
  config::PeerConfig cfg;
  net::EventLoop loop;
  Instant started = Clock::now();

  std::unique_ptr<crypto::TlsContext> tls;
  std::unique_ptr<tun::LinuxTunDevice> tun_dev;
  std::unique_ptr<net::UvUdpTransport> udp;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<net::FdWatcher> tun_watch;
  std::unique_ptr<net::Timer> timer;
  std::unique_ptr<net::SignalWatcher> signals;
  std::unique_ptr<net::UnixServer> control;
  std::unique_ptr<net::Timer> stop_timer;
  std::unique_ptr<net::Timer> housekeeping;
  std::unique_ptr<net::Resolver> resolver;
  std::unique_ptr<RendezvousAddresses> rendezvous_addresses;  // uses `resolver`
  std::vector<protocol::Endpoint> local_candidates;
  std::vector<protocol::Endpoint> tcp_candidates;
  std::unique_ptr<TcpLinks> tcp;
  NetworkWatch network;
  std::unique_ptr<NatProbe> nat_probe;
  os::ServiceNotifier notifier;                   // systemd: readiness, reload, watchdog
  std::unique_ptr<net::Timer> watchdog_timer;
  std::unique_ptr<net::HttpServer> metrics_http;  // [metrics] listen
  // The first housekeeping after start stays quiet: create() has just logged the same warnings.
  std::chrono::system_clock::time_point next_expiry_warning =
      std::chrono::system_clock::now() + std::chrono::hours(24);
  std::unique_ptr<session::OuterSeal> stun_seal;  // with a network key: seals the probe's STUN
  std::array<std::uint8_t, protocol::kMaxSealedPacket> stun_scratch{};
  std::optional<protocol::Endpoint> nat_probe_server;
  // [nat] learn_keepalive (daemon_lifetime.cpp): the NAT mapping lifetime measurement, its last
  // result and when it ended, and the keepalive interval in use.
  std::unique_ptr<LifetimeProbe> lifetime_probe;
  std::unique_ptr<PredictionSockets> prediction;  // port prediction's extra sockets
  std::optional<netcheck::MappingLifetimeResult> nat_lifetime;
  Instant nat_lifetime_at = kNever;
  Duration keepalive_now{};
  std::array<std::uint8_t, protocol::kMaxSealedPacket> lifetime_scratch{};
  protocol::NatType nat_type = protocol::NatType::kUnknown;

  // One frame is enough: the engine seals in place and the transport copies into its batch.
  std::vector<std::uint8_t> frame;
  std::uint64_t tun_write_errors = 0;
  // TUN offloads ([tunnel] offloads tun-tso, tun-gro): the read buffer for super-packets, and
  // the coalescer the received segments go through (declared after tun_dev: destroyed first).
  std::unique_ptr<std::uint8_t[]> tun_read_buf;
  std::unique_ptr<tun::TcpCoalescer> coalescer;
  bool tun_tso = false;
  bool tun_uso = false;
  std::uint64_t tso_reads = 0, tso_segments = 0, tun_read_errors = 0;
  std::uint64_t uso_reads = 0, uso_segments = 0;
  bool stopping = false;
  // [tunnel] workers: seals the packets of a TUN read on several threads (aead_batch.hpp). The
  // engine hands packets over only inside onTunReadable, which seals them all before it returns.
  std::unique_ptr<session::AeadBatch> aead_batch;
  bool in_tun_read = false;
  // The datagrams of the current UDP batch opened ahead (index in the batch, job, key), in order.
  struct OpenPlan {
    std::size_t index;
    std::size_t job;
    session::SealTicket ticket;
  };
  std::vector<OpenPlan> open_plans;
  // Set at start: which credential files a reload must read again (daemon_reload.cpp).
  std::optional<crypto::CredentialReload> credentials;
  // [nat] port_mapping (daemon_portmap.cpp): the mapper, its timer, and the gateway it talks to.
  struct PortMapEdge final : PortMapper::Sink {
    explicit PortMapEdge(Impl& d) : daemon(d) {}
    void sendToGateway(const protocol::Endpoint& to, std::span<const std::uint8_t> d) override;
    void requestUpnp(std::uint16_t internal_port, std::uint32_t lifetime) override;
    void onMappingChanged(const std::optional<protocol::Endpoint>& external) override;
    Impl& daemon;
  };
  PortMapEdge port_map_edge{*this};
  std::unique_ptr<PortMapper> port_mapper;
  std::unique_ptr<net::Timer> port_map_timer;
  std::optional<tun::DefaultGateway> gateway;
  std::string port_map_logged;  // the last "no mapping" reason logged (each is logged once)
  // UPnP-IGD blocks, so it runs on the thread pool, one request at a time (the deletion at
  // shutdown after any mapping still under way). Shared with the running job.
  std::shared_ptr<net::UpnpIgd> upnp;
  std::unique_ptr<net::WorkQueue> upnp_jobs;
  bool upnp_holds = false;  // a UPnP mapping may exist: delete it at shutdown

  explicit Impl(config::PeerConfig c);
  ~Impl() override;

  // daemon.cpp
  void start();
  void createEngine(std::optional<crypto::NetworkKey> network_key);
  void sendFirstFlights();  // before the TUN set-up and the privilege drop
  void onWatchdog();
  void dropRoot();
  void startSealing();
  bool reachable(const protocol::IpAddress& a) const;
  // reachable(), and the host has a routable address of a's family (when it has any at all).
  bool usable(const protocol::IpAddress& a) const;
  void sendStun(const protocol::Endpoint& to, std::span<const std::uint8_t> b);
  void onHousekeeping();
  void refreshLocalCandidates();
  void onRendezvousResolved(std::vector<RendezvousSpec> specs);
  void runNatProbe();
  void onNatType(protocol::NatType t, const netcheck::NetcheckReport& report);
  void onNetworkChange();
  void stop();
  void teardown();
  void afterEvent();
  bool sealedStun(Instant now, const net::ReceivedDatagram& d);
  void onUdpBatch(std::span<net::ReceivedDatagram> batch);
  void planOpens(std::span<net::ReceivedDatagram> batch);
  void onTunReadable();
  void openTun();  // daemon_tun.cpp
  void onTimer();
  // daemon_lifetime.cpp
  void createLifetimeProbe();
  void startLifetimeProbe(const netcheck::NetcheckReport& report);
  void onLifetime(const netcheck::MappingLifetimeResult& r);
  // daemon_portmap.cpp
  void startPortMapping();
  void refreshGateway(bool network_changed);
  void afterPortMapEvent();
  void stopPortMapping();

  // daemon_control.cpp
  std::vector<std::string> certificateWarnings(std::chrono::system_clock::time_point wall) const;
  static std::string isoDay(std::chrono::system_clock::time_point t);
  DaemonInfo daemonInfo(Instant now);
  std::optional<std::string> onMetrics(std::string_view path);
  std::string onControl(std::string_view line);

  // daemon_reload.cpp
  std::string reload(bool& ok);

  // EngineSink (daemon.cpp)
  void sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  std::vector<std::uint16_t> openPredictionSockets(std::size_t count,
                                                   protocol::IpAddress::Family family) override;
  void closePredictionSocket(std::uint16_t local) override;
  void sendDatagramVia(std::uint16_t local, const protocol::Endpoint& to,
                       std::span<const std::uint8_t> bytes) override;
  void sendTcp(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  void sendFragmentable(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  void closeTcp(const protocol::Endpoint& to) override { tcp->close(to); }
  void writeTun(std::span<const std::uint8_t> packet) override;
  bool sealsLater() const override { return in_tun_read && aead_batch != nullptr; }
  void sendSealLater(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes,
                     const DeferredSeal& seal) override;
  void completeSeals() override;
};

}  // namespace vpn::client
