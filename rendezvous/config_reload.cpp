#include "rendezvous/config_reload.hpp"

namespace vpn::rendezvous {

RendezvousOptions limitOptions(const config::RendezvousConfig& cfg) {
  RendezvousOptions o;
  o.refresh = cfg.refresh;
  o.handshake_per_second = cfg.handshake_rate;
  o.handshake_burst = cfg.handshake_burst;
  o.handshake_network_per_second = cfg.handshake_network_rate;
  o.handshake_network_burst = cfg.handshake_network_burst;
  o.handshake_global_per_second = cfg.handshake_global_rate;
  o.handshake_global_burst = cfg.handshake_global_burst;
  o.cookieless_per_second = cfg.cookieless_rate;
  o.cookieless_burst = cfg.cookieless_burst;
  o.lookup_per_second = cfg.lookup_rate;
  o.lookup_burst = cfg.lookup_burst;
  o.max_pending_handshakes = cfg.max_pending_handshakes;
  o.relay = cfg.relay.enabled;
  o.relay_max_channels = cfg.relay.max_channels;
  o.relay_rate = cfg.relay.rate;
  o.relay_burst = cfg.relay.burst;
  o.relay_max_bytes = cfg.relay.max_bytes;
  o.relay_global_rate = cfg.relay.total_rate;
  o.relay_global_burst = cfg.relay.total_burst;
  return o;
}

std::vector<std::string> restartOnlyChanges(const config::RendezvousConfig& a,
                                            const config::RendezvousConfig& b) {
  std::vector<std::string> out;
  auto check = [&out](bool same, const char* key) {
    if (!same) {
      out.emplace_back(key);
    }
  };
  check(a.listen == b.listen, "[rendezvous] listen");
  check(a.tcp_listen == b.tcp_listen && a.tcp_listen_default == b.tcp_listen_default,
        "[rendezvous] tcp_listen");
  check(a.tcp_tls == b.tcp_tls, "[rendezvous] tcp_tls");
  check(a.alt_port == b.alt_port, "[rendezvous] alt_port");
  check(a.alt_address == b.alt_address, "[rendezvous] alt_address");
  check(a.user == b.user, "[rendezvous] user");
  check(a.network_key_from_ca == b.network_key_from_ca &&
            a.network_key_file == b.network_key_file,
        "[rendezvous] network_key");
  check(a.control_socket == b.control_socket, "[rendezvous] control_socket");
  check(a.metrics_listen == b.metrics_listen, "[metrics] listen");
  check(a.udp_gso == b.udp_gso && a.udp_gro == b.udp_gro, "[rendezvous] offloads");
  return out;
}

}  // namespace vpn::rendezvous
