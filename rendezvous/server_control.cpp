// The rendezvous' SIGHUP reload (rendezvous/config_reload.hpp says what applies), its control
// socket (status) and GET /metrics.
#include "base/log.hpp"
#include "os/process_stats.hpp"
#include "rendezvous/config_reload.hpp"
#include "rendezvous/metrics.hpp"
#include "rendezvous/server_impl.hpp"

namespace vpn::rendezvous {

// SIGHUP: the file again (rendezvous/config_reload.hpp says what applies). A file with errors,
// or credentials that cannot be used, refuse the whole reload before anything changes.
void Server::Impl::reload() {
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

std::string Server::Impl::onControl(std::string_view line) {
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

ServerInfo Server::Impl::serverInfo(Instant now) const {
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
std::optional<std::string> Server::Impl::onMetrics(std::string_view path) {
  if (path != "/metrics") {
    return std::nullopt;
  }
  Instant now = Clock::now();
  return renderMetrics(serverInfo(now), engine->status(now, false), os::readProcessStats());
}

}  // namespace vpn::rendezvous
