#include "client/config_reload.hpp"

namespace vpn::client {

std::vector<std::string> restartOnlyChanges(const config::PeerConfig& a,
                                            const config::PeerConfig& b) {
  std::vector<std::string> out;
  auto check = [&out](bool same, const char* key) {
    if (!same) {
      out.emplace_back(key);
    }
  };
  check(a.name == b.name, "[peer] name");
  check(a.addresses == b.addresses, "[peer] address");
  check(a.listen == b.listen, "[peer] listen");
  check(a.tcp_listen == b.tcp_listen, "[peer] tcp_listen");
  check(a.tcp_advertise == b.tcp_advertise, "[peer] tcp_advertise");
  check(a.control_socket == b.control_socket, "[peer] control_socket");
  check(a.network_key.has_value() == b.network_key.has_value() &&
            (!a.network_key || (a.network_key->from_ca == b.network_key->from_ca &&
                                a.network_key->file == b.network_key->file)),
        "[peer] network_key");
  check(a.user == b.user, "[peer] user");
  check(a.tun_name == b.tun_name, "[tun] name");
  check(a.mtu == b.mtu, "[tun] mtu");
  check(a.tunnel.keepalive == b.tunnel.keepalive, "[tunnel] keepalive");
  check(a.tunnel.rekey == b.tunnel.rekey, "[tunnel] rekey");
  check(a.tunnel.rehandshake == b.tunnel.rehandshake, "[tunnel] rehandshake");
  check(a.tunnel.dead_peer == b.tunnel.dead_peer, "[tunnel] dead_peer");
  check(a.tunnel.udp_gso == b.tunnel.udp_gso && a.tunnel.udp_gro == b.tunnel.udp_gro &&
            a.tunnel.tun_tso == b.tunnel.tun_tso && a.tunnel.tun_uso == b.tunnel.tun_uso && a.tunnel.tun_gro == b.tunnel.tun_gro,
        "[tunnel] offloads");
  check(a.paths.relay == b.paths.relay, "[paths] relay");
  check(a.paths.relay_after == b.paths.relay_after, "[paths] relay_after");
  check(a.paths.pmtu_discovery == b.paths.pmtu_discovery, "[paths] pmtu_discovery");
  check(a.paths.demote_after == b.paths.demote_after, "[paths] demote_after");
  check(a.paths.udp_timeout == b.paths.udp_timeout, "[paths] udp_timeout");
  check(a.nat.port_mapping == b.nat.port_mapping, "[nat] port_mapping");
  check(a.nat.learn_keepalive == b.nat.learn_keepalive, "[nat] learn_keepalive");
  check(a.nat.port_prediction == b.nat.port_prediction &&
            a.nat.prediction_sockets == b.nat.prediction_sockets &&
            a.nat.prediction_probes == b.nat.prediction_probes &&
            a.nat.prediction_rate == b.nat.prediction_rate,
        "[nat] port_prediction");
  check(a.metrics_listen == b.metrics_listen, "[metrics] listen");
  return out;
}

std::string joinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out += i == 0 ? "" : (i + 1 == keys.size() ? " and " : ", ");
    out += keys[i];
  }
  return out;
}

}  // namespace vpn::client
