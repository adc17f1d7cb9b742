#pragma once
// Internal to vpn::config (not for other folders). The two passes over a peer file meet here:
// readPeerFile() (toml_reader.cpp, the only user of toml++) checks syntax, structure, key names
// and value types, and fills a RawPeerFile with each value and its position; validatePeerFile()
// (validate.cpp, std only) checks meanings and builds the PeerConfig. Both append to `errors`.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.hpp"
#include "config/peer_config.hpp"

namespace vpn::config::detail {

struct Pos {
  int line = 0;
  int column = 0;
};

// A value as found in the file. `value` is empty when the key is absent or has the wrong type
// (the reader has already reported a wrong type or a missing required key). `pos` is the value's
// position when present, else the enclosing table's.
template <typename T>
struct Raw {
  std::optional<T> value;
  Pos pos;
};

// One string of a key that takes a string or an array of strings.
struct RawAddress {
  std::string text;
  Pos pos;
  std::string key_path;  // "peer.address" or "peer.address[1]"
};

// A number of seconds written as an integer or a float ("relay_after = 0.5").
struct RawSeconds {
  double value = 0;
  bool is_integer = false;  // to print it back as written: "0" rather than "0.000000"
};

struct RawPeerEntry {
  std::string key_path;  // "peers[0]"
  Pos pos;
  Raw<std::string> name;
  Raw<std::string> endpoint;
};

struct RawRendezvousEntry {
  std::string key_path;  // "rendezvous[0]"
  Pos pos;
  Raw<std::string> address;
  Raw<std::string> tcp;   // tcp = "host:port"
  Raw<bool> tcp_enabled;  // tcp = true / false (the default listener, or none)
  Raw<bool> tls;
  Raw<std::string> name;
};

struct RawPeerFile {
  Raw<std::string> name, listen, ca, cert, key, log_level, control_socket, network_key, user;
  Raw<std::vector<RawAddress>> address;
  Raw<bool> tcp_listen;
  Raw<std::vector<RawAddress>> tcp_advertise;
  Raw<std::string> tun_name;
  Raw<std::int64_t> mtu;
  Raw<std::string> cipher;
  Raw<std::vector<RawAddress>> offloads;  // [tunnel] offloads: names of offloads to use
  Raw<std::int64_t> keepalive, rekey, rehandshake, dead_peer, cert_expiry_warning_days;
  Raw<std::int64_t> workers;  // [tunnel] workers
  std::vector<RawPeerEntry> peers;
  std::vector<RawRendezvousEntry> rendezvous;
  Raw<bool> relay;
  Raw<bool> pmtu_discovery;  // [paths] pmtu_discovery
  Raw<RawSeconds> relay_after, demote_after, udp_timeout;
  Raw<std::vector<RawAddress>> blocklist;  // [pki] blocklist: certificate fingerprints
  Raw<std::string> metrics_listen;         // [metrics] listen
  Raw<bool> port_mapping;                  // [nat] port_mapping
  Raw<bool> learn_keepalive;               // [nat] learn_keepalive
  Raw<bool> port_prediction;               // [nat] port_prediction
  Raw<std::int64_t> prediction_sockets, prediction_probes, prediction_rate;  // [nat]
};

// Key names per table, in the order the documentation lists them.
inline constexpr std::string_view kRootTables[] = {"peer",  "tun",        "tunnel",
                                                   "peers", "rendezvous", "paths", "nat",
                                                   "pki",   "metrics"};
inline constexpr std::string_view kPeerKeys[] = {
    "name", "address",   "listen",         "tcp_listen", "tcp_advertise", "ca",
    "cert", "key",       "network_key",    "user",       "log_level",     "control_socket"};
inline constexpr std::string_view kTunKeys[] = {"name", "mtu"};
inline constexpr std::string_view kTunnelKeys[] = {"cipher",    "keepalive",
                                                   "rekey",     "rehandshake",
                                                   "dead_peer", "cert_expiry_warning_days",
                                                   "offloads",  "workers"};
inline constexpr std::string_view kPeersKeys[] = {"name", "endpoint"};
inline constexpr std::string_view kRendezvousKeys[] = {"address", "name", "tcp", "tls"};
inline constexpr std::string_view kPkiKeys[] = {"blocklist"};
inline constexpr std::string_view kMetricsKeys[] = {"listen"};
inline constexpr std::string_view kPathsKeys[] = {"relay", "relay_after", "demote_after",
                                                  "udp_timeout", "pmtu_discovery"};
inline constexpr std::string_view kNatKeys[] = {"port_mapping",       "learn_keepalive",
                                                "port_prediction",    "prediction_sockets",
                                                "prediction_probes",  "prediction_rate"};

RawPeerFile readPeerFile(std::string_view toml_text, const std::string& file,
                         std::vector<ConfigError>& errors);

PeerConfig validatePeerFile(const RawPeerFile& raw, const std::string& file,
                            const std::filesystem::path& base_dir,
                            std::vector<ConfigError>& errors);

}  // namespace vpn::config::detail
