// The peer daemon's control socket (status, explain, down, reload) and GET /metrics.
#include "base/log.hpp"
#include "client/control_protocol.hpp"
#include "client/daemon_impl.hpp"
#include "client/port_map_render.hpp"
#include "client/explain_render.hpp"
#include "client/metrics_render.hpp"
#include "client/status_render.hpp"
#include "os/process_stats.hpp"

namespace vpn::client {

// Our certificate's and the CA's expiry warnings ([tunnel] cert_expiry_warning_days).
std::vector<std::string> Daemon::Impl::certificateWarnings(std::chrono::system_clock::time_point wall) const {
  std::vector<std::string> out;
  const auto window = std::chrono::hours(24 * cfg.tunnel.cert_expiry_warning_days);
  for (auto w : {crypto::expiryWarning(tls->identity(), "certificate " + cfg.cert.string(),
                                       window, wall),
                 crypto::expiryWarning(tls->caIdentity(), "CA certificate " + cfg.ca.string(),
                                       window, wall)}) {
    if (!w.empty()) {
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::string Daemon::Impl::isoDay(std::chrono::system_clock::time_point t) {
  return crypto::formatUtc(t);
}

DaemonInfo Daemon::Impl::daemonInfo(Instant now) {
  DaemonInfo info;
  info.name = cfg.name;
  info.listen = udp ? udp->localEndpoint().toString() : cfg.listen.toString();
  info.tun = tun_dev ? tun_dev->name() : cfg.tun_name;
  for (const auto& a : cfg.addresses) {
    info.addresses.push_back(a.toString());
  }
  info.uptime_s = toSeconds(now - started);
  info.tun_write_errors = tun_write_errors;
  if (udp) {
    const auto us = udp->stats();
    info.udp_tx_dropped = us.tx_dropped;
    info.udp_gso = udp->offloads().gso;
    info.udp_gro = udp->offloads().gro;
    info.gso_sends = us.tx_gso_sends;
    info.gso_datagrams = us.tx_gso_datagrams;
    info.gro_reads = us.rx_gro_reads;
    info.gro_datagrams = us.rx_gro_datagrams;
  }
  info.tun_tso = tun_tso;
  info.tun_uso = tun_uso;
  info.uso_reads = uso_reads;
  info.uso_segments = uso_segments;
  if (port_mapper) {
    info.port_mapping = port_mapper->status();
  }
  info.keepalive_s = std::chrono::duration<double>(keepalive_now).count();
  if (lifetime_probe) {
    info.nat_lifetime_state = lifetime_probe->running() ? "measuring" : "pending";
    if (!lifetime_probe->running() && nat_lifetime) {
      info.nat_lifetime_state = std::string(netcheck::toString(nat_lifetime->state));
      info.nat_lifetime_note = nat_lifetime->note;
      info.nat_lifetime_age_s = std::chrono::duration<double>(now - nat_lifetime_at).count();
      if (nat_lifetime->kept) {
        info.nat_lifetime_kept_s = nat_lifetime->kept->count();
      }
      if (nat_lifetime->lost) {
        info.nat_lifetime_lost_s = nat_lifetime->lost->count();
      }
    }
  }
  info.tun_gro = coalescer != nullptr;
  info.tso_reads = tso_reads;
  info.tso_segments = tso_segments;
  info.tun_read_errors = tun_read_errors;
  if (aead_batch) {
    info.seal_threads = aead_batch->lanes();
    info.sealed = aead_batch->sealed();
    info.batch_opened = aead_batch->openedTotal();
    info.seal_parallel_batches = aead_batch->parallelBatches();
    info.seal_failures = aead_batch->sealFailures();
  }
  if (coalescer) {
    info.tun_gro_writes = coalescer->stats().writes;
    info.tun_gro_segments = coalescer->stats().segments;
  }
  if (tcp) {
    info.tcp = tcp->counters();
    info.tcp_connections = tcp->connections();
  }
  auto wall = std::chrono::system_clock::now();
  info.cert_not_after = isoDay(tls->identity().not_after);
  info.cert_fingerprint = tls->identity().fingerprint;
  info.ca_not_after = isoDay(tls->caIdentity().not_after);
  info.cert_warnings = certificateWarnings(wall);
  info.blocked_certificates = cfg.blocklist.size();
  return info;
}

// GET /metrics ([metrics] listen).
std::optional<std::string> Daemon::Impl::onMetrics(std::string_view path) {
  if (path != "/metrics") {
    return std::nullopt;
  }
  Instant now = Clock::now();
  auto epoch = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  return renderPeerMetrics(daemonInfo(now), engine->status(now), os::readProcessStats(),
                           epoch(tls->identity().not_after), epoch(tls->caIdentity().not_after));
}

std::string Daemon::Impl::onControl(std::string_view line) {
  auto req = parseRequest(line);
  if (!req) {
    return errorResponse("malformed request; this daemon speaks " + std::string(kControlVersion));
  }
  if (req->command == "status") {
    Instant now = Clock::now();
    DaemonInfo info = daemonInfo(now);
    auto st = engine->status(now);
    return okResponse(req->argument == "json" ? renderStatusJson(info, st, now)
                                              : renderStatusText(info, st, now));
  }
  if (req->command == "explain") {
    Instant now = Clock::now();
    auto st = engine->status(now);
    if (port_mapper) {
      st.port_mapping = portMappingSummary(port_mapper->status(), now);
    } else {
      st.port_mapping = cfg.nat.port_mapping ? "" : "off ([nat] port_mapping = false)";
    }
    return explainResponse(st, req->argument, now);
  }
  if (req->command == "down") {
    LOG_INFO("shutting down on request from the control socket");
    // Answer first; the stop runs from the next loop iteration, after the reply is queued.
    stop_timer->armAt(Clock::now());
    return okResponse("stopping\n");
  }
  if (req->command == "reload") {
    LOG_INFO("reloading %s on request from the control socket", cfg.source.c_str());
    bool ok = false;
    std::string result = reload(ok);
    if (!ok) {
      // One line on the wire: the file:line:col messages separated by "; ".
      std::string one_line;
      for (char c : result) {
        one_line += c == '\n' ? std::string("; ") : std::string(1, c);
      }
      return errorResponse(one_line.substr(0, one_line.size() - 2));
    }
    return okResponse(result);
  }
  return errorResponse("unknown command '" + req->command +
                       "'; known: status, explain, down, reload");
}

}  // namespace vpn::client
