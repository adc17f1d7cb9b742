#include "rendezvous/metrics.hpp"

#include "base/version.hpp"
#include "metrics/prometheus_text.hpp"

namespace vpn::rendezvous {
namespace {

using metrics::PrometheusText;
constexpr auto kCounter = PrometheusText::Type::kCounter;
constexpr auto kGauge = PrometheusText::Type::kGauge;

double num(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string renderMetrics(const ServerInfo& info, const RendezvousStatus& st,
                          const os::ProcessStats& process) {
  PrometheusText t;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    t.family(name, kCounter, help);
    t.sample(num(v));
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    t.family(name, kGauge, help);
    t.sample(v);
  };
  const auto& c = st.counters;
  t.family("vpnpeer_rendezvous_build_info", kGauge, "Build of the running server (always 1).");
  t.sample({{"version", kVersion}, {"name", info.name}}, 1);
  gauge("vpnpeer_rendezvous_uptime_seconds", "Seconds since the server started.", info.uptime_s);
  gauge("vpnpeer_rendezvous_registered_peers", "Peers registered now.", num(st.registered));
  t.family("vpnpeer_rendezvous_sessions", kGauge, "Established peer sessions, by transport.");
  t.sample({{"transport", "udp"}}, num(st.sessions - st.sessions_tcp));
  t.sample({{"transport", "tcp"}}, num(st.sessions_tcp));
  gauge("vpnpeer_rendezvous_pending_handshakes", "Handshakes in progress.",
        num(st.pending_handshakes));
  std::uint64_t failed = 0;
  for (const auto& [reason, n] : st.drops) {
    if (reason == "handshake_failed" || reason == "not_peer_role") {
      failed += n;
    }
  }
  t.family("vpnpeer_rendezvous_handshakes_total", kCounter,
           "Handshakes that ended, by result (failures by reason are in drops_total).");
  t.sample({{"result", "ok"}}, num(c.handshakes));
  t.sample({{"result", "failed"}}, num(failed));
  counter("vpnpeer_rendezvous_cookie_replies_total", "HELLOs answered with a cookie.",
          c.cookie_replies);
  counter("vpnpeer_rendezvous_cookieless_handshakes_total",
          "Handshakes started for an unproven source without a cookie round trip.", c.cookieless);
  counter("vpnpeer_rendezvous_registrations_total", "REGISTER messages accepted.",
          c.registrations);
  counter("vpnpeer_rendezvous_also_here_total",
          "ALSO_HERE messages answered: dual-stack peers' reflexive endpoints of their other family.",
          c.also_here);
  counter("vpnpeer_rendezvous_lookups_total", "Lookups received.", c.lookups);
  counter("vpnpeer_rendezvous_introductions_total", "Pairs introduced.", c.introductions);
  counter("vpnpeer_rendezvous_hellos_passed_total",
          "First handshake packets passed on with an introduction (HELLO_FROM).", c.hellos_passed);
  counter("vpnpeer_rendezvous_lookup_failures_total", "Lookups answered with a failure.",
          c.lookup_failures);
  counter("vpnpeer_rendezvous_stun_requests_total", "STUN Binding requests answered.",
          c.stun_requests);
  counter("vpnpeer_rendezvous_keepalive_replies_total", "Liveness requests answered.",
          c.keepalive_replies);
  counter("vpnpeer_rendezvous_sessions_expired_total", "Registrations dropped for silence.",
          c.expired);
  counter("vpnpeer_rendezvous_sessions_replaced_total",
          "Sessions replaced by a newer one of the same peer.", c.replaced);
  gauge("vpnpeer_rendezvous_relay_channels", "Relay channels bound between two peers.",
        num(st.relay_channels));
  counter("vpnpeer_rendezvous_relay_binds_total", "Relay channels bound.", c.relay_binds);
  counter("vpnpeer_rendezvous_relay_failures_total", "Relay requests refused.", c.relay_failures);
  counter("vpnpeer_rendezvous_relay_idle_freed_total", "Relay channels freed after idling.",
          c.relay_idle_freed);
  counter("vpnpeer_rendezvous_relayed_packets_total", "Datagrams relayed between peers.",
          c.relayed_packets);
  counter("vpnpeer_rendezvous_relayed_bytes_total",
          "Bytes relayed between peers (whole relay datagrams).", c.relayed_bytes);
  t.family("vpnpeer_rendezvous_drops_total", kCounter,
           "Datagrams and requests dropped, by reason (the rate_limited reasons are rate-limit "
           "hits).");
  for (const auto& [reason, n] : st.drops) {
    t.sample({{"reason", reason}}, num(n));
  }
  t.family("vpnpeer_rendezvous_udp_packets_total", kCounter, "UDP datagrams, by direction.");
  t.sample({{"direction", "rx"}}, num(info.udp_rx_packets));
  t.sample({{"direction", "tx"}}, num(info.udp_tx_packets));
  counter("vpnpeer_rendezvous_udp_tx_dropped_total",
          "UDP datagrams not sent (send queue full or no socket).", info.udp_tx_dropped);
  gauge("vpnpeer_rendezvous_tcp_connections", "TCP connections open.", num(info.tcp.connections));
  counter("vpnpeer_rendezvous_tcp_accepted_total", "TCP connections accepted.",
          info.tcp.accepted);
  t.family("vpnpeer_rendezvous_tcp_refused_total", kCounter,
           "TCP connections closed at accept, by limit.");
  t.sample({{"limit", "total"}}, num(info.tcp.refused));
  t.sample({{"limit", "per_source"}}, num(info.tcp.refused_per_source));
  t.family("vpnpeer_rendezvous_tcp_closed_total", kCounter,
           "TCP connections the server closed, by reason.");
  t.sample({{"reason", "unused"}}, num(info.tcp.unused_closed));
  t.sample({{"reason", "idle"}}, num(info.tcp.idle_closed));
  t.family("process_cpu_seconds_total", kCounter, "User and system CPU time spent, in seconds.");
  t.sample(process.cpu_seconds);
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
        num(process.resident_bytes));
  gauge("process_open_fds", "Open file descriptors.", num(process.open_fds));
  gauge("process_max_fds", "The limit on open file descriptors.", num(process.max_fds));
  return t.text();
}

}  // namespace vpn::rendezvous
