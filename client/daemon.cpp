#include "client/daemon_impl.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <csignal>
#include <vector>

#include "base/log.hpp"
#include "base/time.hpp"
#include "client/control_protocol.hpp"
#include "client/explain_render.hpp"
#include "client/nat_probe.hpp"
#include "client/rendezvous_addresses.hpp"
#include "client/network_watch.hpp"
#include "client/tcp_links.hpp"
#include "client/engine/engine.hpp"
#include "client/engine/engine_sink.hpp"
#include "client/identity_check.hpp"
#include "client/status_render.hpp"
#include "config/load.hpp"
#include "crypto/aead.hpp"
#include "crypto/network_key.hpp"
#include "crypto/tls_context.hpp"
#include "net/event_loop.hpp"
#include "net/fd_watcher.hpp"
#include "net/interfaces.hpp"
#include "net/resolver.hpp"
#include "net/signal_watcher.hpp"
#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/unix_server.hpp"
#include "client/metrics_render.hpp"
#include "net/http_server.hpp"
#include "os/privileges.hpp"
#include "os/process_stats.hpp"
#include "os/service_notify.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/packet_type.hpp"
#include "protocol/sealed_packet.hpp"
#include "session/outer_seal.hpp"
#include "tun/interface_config.hpp"
#include "tun/linux_tun_device.hpp"
#include "tun/vnet_header.hpp"
#include "tun/netlink_socket.hpp"

#include <linux/capability.h>
#include <net/if.h>
#include <unistd.h>


namespace vpn::client {
namespace {


// How often interface addresses are re-read (local candidates) and unanswered rendezvous names
// are resolved again.
constexpr Duration kHousekeeping = seconds(30);

// The largest MTU a peer file accepts, plus our overhead: peers with a larger MTU than ours
// still fit in a receive slot.
constexpr std::size_t kMaxDatagram = 9000 + protocol::kDataOverhead + 64;

std::vector<crypto::CipherSuite> cipherOrder(const std::string& choice) {
  crypto::CipherSuite c;
  if (choice != "auto" && crypto::parseCipher(choice, c)) {
    return {c};
  }
  return crypto::defaultCipherOrder();
}

}  // namespace

EngineOptions engineOptions(const config::PeerConfig& cfg) {
  EngineOptions o;
  o.own_name = cfg.name;
  for (const auto& p : cfg.peers) {
    o.peers.push_back(PeerSpec{p.name, p.endpoint});
  }
  if (cfg.listen.address().isV4() || !cfg.listen.address().isUnspecified()) {
    o.udp_family = cfg.listen.address().family();  // "[::]" alone is dual stack
  }
  o.port_prediction = cfg.nat.port_prediction;
  o.prediction_sockets = cfg.nat.prediction_sockets;
  o.prediction_probes = cfg.nat.prediction_probes;
  o.prediction_rate = cfg.nat.prediction_rate;
  o.keepalive_interval = cfg.tunnel.keepalive;
  o.dead_peer_timeout = cfg.tunnel.dead_peer;
  o.rekey_interval = cfg.tunnel.rekey;
  o.rehandshake_interval = cfg.tunnel.rehandshake;
  o.relay = cfg.paths.relay;
  o.relay_after = cfg.paths.relay_after;
  o.demote_after = cfg.paths.demote_after;
  o.udp_timeout = cfg.paths.udp_timeout;
  o.tun_mtu = static_cast<std::size_t>(cfg.mtu);
  o.pmtu_discovery = cfg.paths.pmtu_discovery;
  return o;
}

crypto::TlsContextOptions tlsOptions(const config::PeerConfig& cfg) {
  crypto::TlsContextOptions topt;
  topt.ca_cert = cfg.ca;
  topt.cert = cfg.cert;
  topt.key = cfg.key;
  topt.ciphers = cipherOrder(cfg.tunnel.cipher);
  topt.expiry_warning = std::chrono::hours(24 * cfg.tunnel.cert_expiry_warning_days);
  return topt;
}

Daemon::Impl::Impl(config::PeerConfig c) try : cfg(std::move(c)) {
} catch (const net::NetError& e) {
  throw StartupError(e.what());
}

Daemon::Impl::~Impl() {
  teardown();
  // Every owner of a handle goes before the drain, which frees the handles.
  resolver.reset();
  housekeeping.reset();
  nat_probe.reset();
  lifetime_probe.reset();
  tcp.reset();
  engine.reset();
  udp.reset();
  control.reset();
  stop_timer.reset();
  loop.drain();
  tun_dev.reset();  // closing the fd removes the device, its addresses and routes
}

void Daemon::Impl::start() {
  crypto::TlsContextOptions topt = tlsOptions(cfg);
  try {
    tls = crypto::TlsContext::create(topt);
    credentials.emplace(topt);
  } catch (const crypto::CryptoError& e) {
    throw StartupError(e.what());
  }
  std::optional<crypto::NetworkKey> network_key;
  try {
    if (cfg.network_key) {
      network_key = crypto::loadNetworkKey(cfg.network_key->from_ca, cfg.network_key->file,
                                           cfg.ca);
    }
  } catch (const crypto::CryptoError& e) {
    throw StartupError(e.what());
  }
  auto problems = checkIdentity(cfg, tls->identity());
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) {
      all += all.empty() ? "" : "\n";
      all += p;
    }
    throw StartupError(all);
  }

  frame.resize(protocol::kDataHeaderSize + static_cast<std::size_t>(cfg.mtu) +
               protocol::kAeadTagSize + 64);
  try {
    udp = net::UvUdpTransport::open(
        loop, cfg.listen, kMaxDatagram,
        [this](std::span<net::ReceivedDatagram> batch) { onUdpBatch(batch); },
        net::UdpOffloads{cfg.tunnel.udp_gso, cfg.tunnel.udp_gro});
    if (cfg.paths.pmtu_discovery && !udp->setPathMtuProbing(true)) {
      LOG_WARN("the kernel refused IP_PMTUDISC_PROBE (%s); path MTU probes may be fragmented",
               std::strerror(errno));
    }
  } catch (const net::NetError& e) {
    throw StartupError(e.what());
  }
  createEngine(std::move(network_key));
  sendFirstFlights();
  try {
    openTun();
    auto nl = tun::LinuxNetlinkSocket::open();
    tun::configureInterface(*nl, tun_dev->name(), cfg.addresses, cfg.mtu);
    control = net::UnixServer::listen(loop, cfg.control_socket,
                                      [this](std::string_view req) { return onControl(req); });
    if (cfg.metrics_listen) {
      metrics_http = net::HttpServer::listen(
          loop, *cfg.metrics_listen, [this](std::string_view path) { return onMetrics(path); },
          {});
    }
  } catch (const net::NetError& e) {
    throw StartupError(e.what());
  } catch (const tun::TunError& e) {
    throw StartupError(e.what());
  }

  nat_probe = std::make_unique<NatProbe>(
      loop, [this](const protocol::Endpoint& to, std::span<const std::uint8_t> b) { sendStun(to, b); },
      [this](protocol::NatType t, const netcheck::NetcheckReport& report) {
        onNatType(t, report);
      });
  createLifetimeProbe();
  std::vector<int> ignore;
  if (unsigned idx = if_nametoindex(tun_dev->name().c_str()); idx != 0) {
    ignore.push_back(static_cast<int>(idx));
  }
  if (auto err = network.open(loop, ignore, [this] { onNetworkChange(); }); !err.empty()) {
    LOG_WARN("not watching network changes (%s); roaming is noticed by keepalives only",
             err.c_str());
  }
  stop_timer = std::make_unique<net::Timer>(loop, [this] { stop(); });
  timer = std::make_unique<net::Timer>(loop, [this] { onTimer(); });

  tun_watch = net::FdWatcher::create(loop, tun_dev->fd(), [this] { onTunReadable(); });
  signals = std::make_unique<net::SignalWatcher>(
      loop, std::vector<int>{SIGINT, SIGTERM, SIGHUP}, [this](int sig) {
        if (sig == SIGHUP) {
          LOG_INFO("received SIGHUP, reloading %s", cfg.source.c_str());
          bool ok = false;
          (void)reload(ok);
          return;
        }
        LOG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        // Deferred: stopping destroys this watcher, which must not happen in its callback.
        stop_timer->armAt(Clock::now());
      });
  std::string addrs;
  for (const auto& a : cfg.addresses) {
    addrs += (addrs.empty() ? "" : ", ") + a.toString();
  }
  LOG_INFO("%s is up: %s on %s, UDP %s, %zu peer(s) configured", cfg.name.c_str(), addrs.c_str(),
           tun_dev->name().c_str(), udp->localEndpoint().toString().c_str(), cfg.peers.size());
  {
    const auto off = udp->offloads();
    auto state = [](bool on, bool wanted) { return on ? "on" : (wanted ? "not available" : "off"); };
    LOG_INFO("offloads: UDP GSO %s, UDP GRO %s, TUN TSO %s, TUN USO %s, TUN GRO %s",
             state(off.gso, cfg.tunnel.udp_gso), state(off.gro, cfg.tunnel.udp_gro),
             state(tun_tso, cfg.tunnel.tun_tso), state(tun_uso, cfg.tunnel.tun_uso),
             state(coalescer != nullptr, cfg.tunnel.tun_gro));
  }
  if (metrics_http) {
    LOG_INFO("metrics on http://%s/metrics", metrics_http->localEndpoint().toString().c_str());
  }
  dropRoot();
  startSealing();
  startPortMapping();
  housekeeping = std::make_unique<net::Timer>(loop, [this] { onHousekeeping(); });
  onHousekeeping();
  afterEvent();
  notifier.ready(cfg.name + " is up on " + tun_dev->name() + ", " +
                 std::to_string(cfg.peers.size()) + " peer(s) configured");
  if (notifier.watchdogPeriod().count() > 0) {
    watchdog_timer = std::make_unique<net::Timer>(loop, [this] { onWatchdog(); });
    onWatchdog();
  }
}

// From the loop itself, so a stuck loop stops the keep-alives and systemd restarts us.
void Daemon::Impl::onWatchdog() {
  notifier.watchdog();
  watchdog_timer->armAt(Clock::now() + notifier.watchdogPeriod());
}

// Everything that needs root is open (TUN, netlink, sockets, keys, the control socket), and no
// thread exists yet (the resolver starts libuv's pool later): become the configured user with
// CAP_NET_ADMIN only, kept to change the interface's addresses, MTU and routes.
void Daemon::Impl::dropRoot() {
  try {
    os::RunAs to = os::lookupRunAs(cfg.user);
    if (to.switches) {
      if (auto err = control->giveTo(to.uid, to.gid); !err.empty()) {
        LOG_WARN("%s; the control socket will stay behind at exit", err.c_str());
      }
    }
    os::DropResult r = os::dropPrivileges(os::DropRequest{to, {CAP_NET_ADMIN}});
    if (r.switched || ::geteuid() != 0) {
      LOG_INFO("running as user %s, capabilities: %s", r.user.c_str(), r.kept.c_str());
    } else {
      LOG_WARN("running as root with every capability (user = \"root\" in the peer file)");
    }
  } catch (const os::PrivilegeError& e) {
    throw StartupError(e.what());
  }
}

// STUN on the tunnel's socket (NAT discovery, the mapping lifetime's sender), sealed with the
// network key when there is one; sent at once, as STUN is rare and may come from a probe's timer.
void Daemon::Impl::sendStun(const protocol::Endpoint& to, std::span<const std::uint8_t> b) {
  if (stun_seal) {
    std::size_t n = stun_seal->seal(b, stun_scratch);
    if (n == 0) {
      return;
    }
    b = std::span<const std::uint8_t>(stun_scratch.data(), n);
  }
  udp->send(to, b);
  udp->flush();
}

// Family the listen socket can reach: a specific IPv4 or IPv6 address covers only its own.
void Daemon::Impl::onHousekeeping() {
  if (stopping) {
    return;
  }
  if (auto wall = std::chrono::system_clock::now(); wall >= next_expiry_warning) {
    next_expiry_warning = wall + std::chrono::hours(24);  // once a day while it applies
    for (const auto& w : certificateWarnings(wall)) {
      LOG_WARN("%s", w.c_str());
    }
  }
  refreshLocalCandidates();
  rendezvous_addresses->refresh(engine->status(Clock::now()));
  housekeeping->armAt(Clock::now() + kHousekeeping);
}

void Daemon::Impl::refreshLocalCandidates() {
  std::vector<protocol::Endpoint> found;
  if (!cfg.listen.address().isUnspecified()) {
    found.emplace_back(cfg.listen.address(), udp->localEndpoint().port());
  } else {
    for (const auto& a : net::interfaceAddresses({tun_dev->name()})) {
      if (reachable(a)) {
        found.emplace_back(a, udp->localEndpoint().port());
      }
    }
  }
  std::vector<protocol::Endpoint> tcp_found;
  if (cfg.tcp_listen) {
    tcp_found = found;  // the TCP listener shares the UDP socket's address and port
    for (const auto& e : cfg.tcp_advertise) {
      if (std::find(tcp_found.begin(), tcp_found.end(), e) == tcp_found.end()) {
        tcp_found.push_back(e);
      }
    }
  }
  if (tcp_found != tcp_candidates) {
    tcp_candidates = tcp_found;
    engine->setTcpCandidates(Clock::now(), tcp_found);
    afterEvent();
  }
  if (found != local_candidates) {
    local_candidates = found;
    std::string list;
    for (const auto& e : found) {
      list += (list.empty() ? "" : ", ") + e.toString();
    }
    LOG_INFO("local candidates: %s", list.empty() ? "none" : list.c_str());
    engine->setLocalCandidates(Clock::now(), found);
    afterEvent();
  }
}

void Daemon::Impl::onRendezvousResolved(std::vector<RendezvousSpec> specs) {
  if (stopping) {
    return;
  }
  engine->setRendezvous(Clock::now(), specs);
  afterEvent();
  // The NAT probe asks the first server; again when a reload removed the one it asked.
  auto listed = [&](const protocol::Endpoint& ep) {
    return std::any_of(specs.begin(), specs.end(),
                       [&](const RendezvousSpec& s) { return s.udp == ep; });
  };
  if (!specs.empty() && (!nat_probe_server || !listed(*nat_probe_server))) {
    nat_probe_server = specs.front().udp;
    runNatProbe();
  }
}

void Daemon::Impl::runNatProbe() {
  if (!nat_probe_server || stopping) {
    return;
  }
  std::optional<protocol::Endpoint> local;
  if (!cfg.listen.address().isUnspecified()) {
    local = udp->localEndpoint();
  } else if (!local_candidates.empty()) {
    local = local_candidates.front();
  }
  nat_probe->run(*nat_probe_server, local);
  udp->flush();
}

void Daemon::Impl::onNatType(protocol::NatType t, const netcheck::NetcheckReport& report) {
  if (stopping) {
    return;
  }
  if (t != nat_type) {
    LOG_INFO("NAT type: %s%s%s", std::string(protocol::toString(t)).c_str(),
             report.public_endpoint ? ", public endpoint " : "",
             report.public_endpoint ? report.public_endpoint->toString().c_str() : "");
  }
  nat_type = t;
  engine->setPortStride(Clock::now(), report.port_stride.value_or(0));
  engine->setNatType(Clock::now(), t);
  afterEvent();
  startLifetimeProbe(report);
}

void Daemon::Impl::onNetworkChange() {
  if (stopping) {
    return;
  }
  LOG_INFO("network changed: re-registering and probing every path");
  engine->onNetworkChange(Clock::now());
  afterEvent();
  refreshLocalCandidates();
  runNatProbe();
  refreshGateway(true);
}

void Daemon::Impl::stop() {
  if (stopping) {
    return;
  }
  stopping = true;
  notifier.stopping();
  teardown();
}

// Closes every edge; the loop then runs out of active handles and run() returns.
void Daemon::Impl::teardown() {
  watchdog_timer.reset();
  metrics_http.reset();
  tun_watch.reset();
  signals.reset();
  timer.reset();
  // An armed timer or a pending lookup keeps the loop running: stop them too.
  housekeeping.reset();
  rendezvous_addresses.reset();
  resolver.reset();
  network.close();
  nat_probe.reset();
  lifetime_probe.reset();
  prediction.reset();
  stopPortMapping();  // sends the deletion, flushed with the socket below
  if (tcp) {
    tcp->closeAll();
  }
  if (udp) {
    udp->flush();  // seals what is queued first (the before-flush hook)
    udp->setBeforeFlush({});
    udp->close();
  }
  if (control) {
    control->close();
  }
}

void Daemon::Impl::afterEvent() {
  if (stopping) {
    return;
  }
  if (coalescer) {
    coalescer->flush();  // the batch's inner TCP segments, merged per flow
  }
  udp->flush();
  timer->armAt(engine->nextDeadline());
}

// A sealed STUN answer for the NAT probe: opened in a copy, so that anything else (a sealed
// handshake packet) reaches the engine unopened. True if it was STUN.
bool Daemon::Impl::sealedStun(Instant now, const net::ReceivedDatagram& d) {
  if (d.data.size() > stun_scratch.size()) {
    return false;
  }
  std::copy(d.data.begin(), d.data.end(), stun_scratch.begin());
  auto inner = stun_seal->open(std::span<std::uint8_t>(stun_scratch.data(), d.data.size()));
  if (protocol::classify(inner) != protocol::PacketFamily::kStun) {
    return false;
  }
  nat_probe->onDatagram(now, d.from, inner);
  if (lifetime_probe) {
    lifetime_probe->onMainDatagram(now, d.from, inner);
  }
  return true;
}

void Daemon::Impl::onUdpBatch(std::span<net::ReceivedDatagram> batch) {
  if (stopping) {
    return;
  }
  Instant now = Clock::now();
  planOpens(batch);
  std::size_t next_plan = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& d = batch[i];
    if (next_plan < open_plans.size() && open_plans[next_plan].index == i) {
      const OpenPlan& p = open_plans[next_plan++];
      engine->onDatagramOpened(now, d.from, d.data,
                               session::PreOpened{p.ticket, aead_batch->opened(p.job)});
      continue;
    }
    if (port_mapper && port_mapper->isGateway(d.from)) {
      port_mapper->onDatagram(now, d.from, d.data);  // PCP / NAT-PMP from the router's port 5351
      afterPortMapEvent();
      continue;
    }
    auto family = protocol::classify(d.data);
    if (family == protocol::PacketFamily::kStun && nat_probe && !stun_seal) {
      nat_probe->onDatagram(now, d.from, d.data);  // the engine has no use for STUN
      if (lifetime_probe) {
        lifetime_probe->onMainDatagram(now, d.from, d.data);
      }
      continue;
    }
    if (family == protocol::PacketFamily::kSealed && nat_probe && stun_seal &&
        sealedStun(now, d)) {
      continue;
    }
    engine->onDatagram(now, d.from, d.data);
  }
  afterEvent();
}

void Daemon::Impl::onTimer() {
  if (stopping) {
    return;
  }
  engine->onTimer(Clock::now());
  afterEvent();
}

// EngineSink
void Daemon::Impl::sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  udp->send(to, bytes);
}

void Daemon::Impl::sendFragmentable(const protocol::Endpoint& to,
                                    std::span<const std::uint8_t> bytes) {
  udp->sendFragmentable(to, bytes);
}

void Daemon::Impl::sendTcp(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  tcp->send(to, bytes);
}

Daemon::Daemon(config::PeerConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

Daemon::~Daemon() = default;

int Daemon::run() {
  impl_->start();
  impl_->loop.run();
  LOG_INFO("%s is down", impl_->cfg.name.c_str());
  return 0;
}

}  // namespace vpn::client
