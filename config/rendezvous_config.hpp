#pragma once
// The rendezvous server's file (rendezvous.toml), read into a plain validated struct:
//
//   [rendezvous]
//   listen = ["0.0.0.0:3478", "[::]:3478"]   # UDP sockets peers use (a string or a list)
//   tcp_listen = ["0.0.0.0:3478", "0.0.0.0:443"]   # TCP listeners (a string or a list); absent:
//                                             # one at each listen address and port; []: none
//   tcp_tls = true                            # wrap TCP in TLS 1.3 (default true)
//   alt_port = 3479                           # optional: RFC 5780 "change port"
//   alt_address = "203.0.113.2"               # optional: RFC 5780 "change IP"
//   ca = "ca.crt"
//   cert = "rv1.crt"                          # must carry the rendezvous role
//   key = "rv1.key"
//   user = "vpnpeer"                          # optional: who to run as after binding
//   network_key = "network.key"               # optional: every peer's file names the same key
//                                             # (or "ca": derived from the CA certificate)
//   refresh = 25                              # seconds; peers re-register this often
//   log_level = "info"
//   control_socket = "/run/vpnpeer/rendezvous.sock"   # optional
//   # optional limits: handshake_rate, handshake_burst (per source address),
//   # handshake_network_rate, handshake_network_burst (per IPv6 /64),
//   # handshake_global_rate, handshake_global_burst (all sources),
//   # cookieless_rate, cookieless_burst (unproven sources started without a cookie; rate 0: none),
//   # lookup_rate, lookup_burst (per registered peer), max_pending_handshakes,
//   # tcp_max_connections, tcp_max_per_source (IPv4 address or IPv6 /64),
//   # tcp_unused_timeout (seconds a TCP connection may go without a session or handshake)
//   offloads = ["udp-gso", "udp-gro"]         # kernel offloads for the UDP sockets; [] for none
//
//   [metrics]                                 # optional; off by default
//   listen = "127.0.0.1:9477"                 # HTTP: GET /metrics (Prometheus text format)
//
//   [pki]                                     # optional
//   blocklist = ["<sha256 of a certificate>"] # refused, and their sessions closed (on SIGHUP too)
//
//   [relay]                                   # optional; relaying between peers (docs/paths.md)
//   enabled = true
//   max_channels = 256                        # per peer, 1..65535
//   rate = 12500000                           # bytes/s per peer, >= 1000
//   burst = 1000000                           # bytes, >= 65536
//   max_bytes = 0                             # per peer session, 0 = unlimited
//   total_rate = 125000000                    # bytes/s for all peers together, >= 1000
//   total_burst = 4000000                     # bytes, >= 65536
//
// Errors are returned all at once, sorted by position, each "file:line:col: key: message" with a
// did-you-mean for unknown keys (config_error.hpp). Relative paths are resolved against the
// file's directory. Thread-safe (no shared state); only std::bad_alloc escapes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "config/config_error.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::config {

struct RendezvousConfig {
  std::filesystem::path source;
  std::vector<protocol::Endpoint> listen;
  std::vector<protocol::Endpoint> tcp_listen;  // empty: none, or the default below
  // No tcp_listen key: listen on TCP at each UDP listen address and port, as bound (so a peer
  // needs no tcp key to fall back to TCP); a port already taken there is warned about, not fatal.
  bool tcp_listen_default = false;
  bool tcp_tls = true;
  std::optional<std::uint16_t> alt_port;
  std::optional<protocol::IpAddress> alt_address;
  // The listen entry the alternates pair with: the first with a specific address in
  // alt_address's family when alt_address is set, else the first entry.
  std::size_t stun_listen = 0;
  std::filesystem::path ca, cert, key;
  // The network key (as in the peer file): "ca", or a key file; absent: none.
  std::string user;  // run as this user after binding ("" = vpnpeer, else nobody; "root" stays)
  bool network_key_from_ca = false;
  std::filesystem::path network_key_file;
  std::chrono::seconds refresh{25};
  std::string log_level = "info";
  std::optional<std::filesystem::path> control_socket;
  double handshake_rate = 2;
  double handshake_burst = 8;
  double handshake_network_rate = 8;
  double handshake_network_burst = 32;
  double handshake_global_rate = 100;
  double handshake_global_burst = 200;
  double cookieless_rate = 8;   // 0: every unproven source gets a cookie
  double cookieless_burst = 16;
  double lookup_rate = 20;
  double lookup_burst = 40;
  std::size_t max_pending_handshakes = 1024;
  std::size_t tcp_max_connections = 16384;
  std::size_t tcp_max_per_source = 256;
  std::chrono::seconds tcp_unused_timeout{15};
  // offloads: UDP GSO and GRO on the listen sockets, where the kernel has them (default both).
  bool udp_gso = true;
  bool udp_gro = true;
  struct RelaySettings {
    bool enabled = true;
    std::size_t max_channels = 256;  // per peer
    double rate = 12.5e6;            // bytes per second per peer
    double burst = 1e6;              // bytes
    std::uint64_t max_bytes = 0;     // per peer session; 0 = unlimited
    double total_rate = 125e6;       // bytes per second for all relaying together (1 Gbit/s)
    double total_burst = 4e6;        // bytes
  } relay;
  // [pki] blocklist: certificate fingerprints refused at start and on reload (SIGHUP).
  std::vector<std::string> blocklist;
  // [metrics] listen: where Prometheus scrapes GET /metrics over HTTP; absent: no listener.
  std::optional<protocol::Endpoint> metrics_listen;
};

using RendezvousConfigResult = Result<RendezvousConfig, std::vector<ConfigError>>;

// Parses the TOML text; `source` names the file in messages and is the base for relative paths.
// Never touches the file system.
RendezvousConfigResult parseRendezvousConfig(std::string_view toml_text,
                                             const std::filesystem::path& source);
// Reads `file` (a read failure is one ConfigError without position) and parses it.
RendezvousConfigResult loadRendezvousConfig(const std::filesystem::path& file);

}  // namespace vpn::config
