#include "client/metrics_render.hpp"

#include "base/version.hpp"
#include "metrics/prometheus_text.hpp"

namespace vpn::client {
namespace {

using metrics::PrometheusText;
constexpr auto kCounter = PrometheusText::Type::kCounter;
constexpr auto kGauge = PrometheusText::Type::kGauge;

double num(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string renderPeerMetrics(const DaemonInfo& info, const EngineStatus& st,
                              const os::ProcessStats& process, double cert_not_after,
                              double ca_not_after) {
  PrometheusText t;
  t.family("vpnpeer_build_info", kGauge, "Build of the running peer (always 1).");
  t.sample({{"version", kVersion}, {"name", info.name}}, 1);
  t.family("vpnpeer_uptime_seconds", kGauge, "Seconds since up started.");
  t.sample(info.uptime_s);

  t.family("vpnpeer_peer_up", kGauge, "1 while the tunnel to the peer is established.");
  for (const auto& p : st.peers) {
    t.sample("peer", p.name, p.state == "established" ? 1 : 0);
  }
  t.family("vpnpeer_peer_path", kGauge,
           "The peer's current path (1 on the path in use: direct-udp, direct-tcp, relay-udp, "
           "relay-tcp or none).");
  for (const auto& p : st.peers) {
    t.sample({{"peer", p.name}, {"path", p.path}}, 1);
  }
  t.family("vpnpeer_peer_rtt_seconds", kGauge, "Smoothed round-trip time to the peer.");
  for (const auto& p : st.peers) {
    if (p.rtt) {
      t.sample("peer", p.name, toSeconds(*p.rtt));
    }
  }
  auto perPeer = [&](const char* name, const char* help, auto field) {
    t.family(name, kCounter, help);
    for (const auto& p : st.peers) {
      t.sample("peer", p.name, num(field(p)));
    }
  };
  perPeer("vpnpeer_peer_transmit_bytes_total", "Inner IP bytes sent to the peer.",
          [](const PeerStatus& p) { return p.tx_bytes; });
  perPeer("vpnpeer_peer_receive_bytes_total", "Inner IP bytes received from the peer.",
          [](const PeerStatus& p) { return p.rx_bytes; });
  perPeer("vpnpeer_peer_transmit_packets_total", "Inner IP packets sent to the peer.",
          [](const PeerStatus& p) { return p.tx_packets; });
  perPeer("vpnpeer_peer_receive_packets_total", "Inner IP packets received from the peer.",
          [](const PeerStatus& p) { return p.rx_packets; });
  perPeer("vpnpeer_peer_handshakes_total", "Handshakes completed with the peer.",
          [](const PeerStatus& p) { return p.handshakes; });
  perPeer("vpnpeer_peer_key_updates_total", "Data key updates with the peer.",
          [](const PeerStatus& p) { return p.key_updates; });

  t.family("vpnpeer_drops_total", kCounter, "Datagrams and packets dropped, by reason.");
  for (const auto& [reason, n] : st.drops) {
    t.sample("reason", reason, num(n));
  }
  t.family("vpnpeer_server_registered", kGauge, "1 while registered with the rendezvous server.");
  for (const auto& rv : st.rendezvous) {
    t.sample("server", rv.endpoint.toString(), rv.registered ? 1 : 0);
  }
  t.family("vpnpeer_cookie_replies_total", kCounter,
           "ClientHellos from unproven sources answered with a cookie.");
  t.sample(num(st.cookie_replies));
  t.family("vpnpeer_hellos_via_rendezvous_total", kCounter,
           "ClientHellos through the rendezvous: ours sent with a lookup, peers' answered.");
  t.sample("direction", "sent", num(st.hellos_via_sent));
  t.sample("direction", "received", num(st.hellos_from_received));
  t.family("vpnpeer_tun_write_errors_total", kCounter, "Packets the TUN device refused.");
  t.sample(num(info.tun_write_errors));
  t.family("vpnpeer_udp_tx_dropped_total", kCounter,
           "UDP datagrams dropped because the send queue was full.");
  t.sample(num(info.udp_tx_dropped));
  t.family("vpnpeer_tcp_connections", kGauge, "TCP connections open.");
  t.sample(num(info.tcp_connections));
  t.family("vpnpeer_certificate_expiry_timestamp_seconds", kGauge,
           "When our certificate (which=\"own\") and the CA's (which=\"ca\") expire.");
  t.sample("which", "own", cert_not_after);
  t.sample("which", "ca", ca_not_after);
  t.family("process_cpu_seconds_total", kCounter, "User and system CPU time spent, in seconds.");
  t.sample(process.cpu_seconds);
  t.family("process_resident_memory_bytes", kGauge, "Resident memory size in bytes.");
  t.sample(num(process.resident_bytes));
  t.family("process_open_fds", kGauge, "Open file descriptors.");
  t.sample(num(process.open_fds));
  return t.text();
}

}  // namespace vpn::client
