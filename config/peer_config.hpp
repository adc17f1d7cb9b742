#pragma once
// PeerConfig: the validated contents of a peer file (docs/peer-file.md), as plain values. Produced
// by parsePeerConfig()/loadPeerConfig() in config/load.hpp; once returned, every field has passed
// validation and every path is resolved. Plain value types, no hidden state; thread-compatible.
// Engines should receive the individual typed values, never a PeerConfig.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ip_address.hpp"

namespace vpn::config {

struct PeerEntry {
  std::string name;
  std::optional<protocol::Endpoint> endpoint;  // absent: we wait for the peer to reach us
  friend bool operator==(const PeerEntry&, const PeerEntry&) = default;
};

// A rendezvous server as written in the peer file: a host name or IP address and a UDP port, and
// its TCP listener (docs/paths.md, rule 8): by default at the same address and port. Names are
// resolved by the daemon at start and again when the server stops answering.
struct RendezvousEntry {
  std::string host;  // "rv1.example.net", "198.51.100.1" or "2001:db8::1" (no brackets)
  std::uint16_t port = 0;
  std::optional<std::string> tcp_host;  // same syntax as host; absent: no TCP fallback (tcp = false)
  std::uint16_t tcp_port = 0;           // set when tcp_host is
  bool tcp_implicit = false;            // no tcp key: host and port are the UDP ones
  bool tls = true;                      // wrap the TCP stream in TLS; only meaningful with tcp_host
  // Pinned certificate name: the server's certificate must name exactly this (absent: any
  // certificate of our CA with the rendezvous role).
  std::optional<std::string> name;
  std::string toString() const;     // the UDP address: "rv1.example.net:3478", "[2001:db8::1]:3478"
  std::string tcpToString() const;  // the TCP address in the same form; "" without tcp_host
  friend bool operator==(const RendezvousEntry&, const RendezvousEntry&) = default;
};

// How paths are chosen (docs/paths.md, [paths] in docs/peer-file.md).
struct PathSettings {
  bool relay = true;                              // fall back to relays through a rendezvous
  std::chrono::milliseconds relay_after{2000};    // no session this long: ask for a relay
  std::chrono::milliseconds demote_after{4000};   // direct path silent this long: demote it
  std::chrono::milliseconds udp_timeout{3000};    // rendezvous UDP silent this long: use TCP
  bool pmtu_discovery = true;                     // probe each UDP path's MTU (docs/paths.md)
};

// [nat]: what a peer asks of the NAT in front of it (docs/paths.md).
struct NatSettings {
  bool port_mapping = true;  // ask the router to map the tunnel port (PCP, NAT-PMP, UPnP-IGD)
  // Measure how long the NAT keeps an idle mapping, and keep keepalives inside it.
  bool learn_keepalive = true;
  // Port prediction against symmetric NATs (docs/paths.md rule 14): off unless asked for.
  bool port_prediction = false;
  std::size_t prediction_sockets = 256;  // behind the symmetric NAT: extra sockets
  std::size_t prediction_probes = 2048;  // behind the cone NAT: probes per punch
  std::size_t prediction_rate = 256;     // ... at most this many a second
};

struct TunnelSettings {
  std::string cipher = "auto";  // "auto", "aes-256-gcm" or "chacha20-poly1305"
  std::chrono::seconds keepalive{10};
  std::chrono::seconds rekey{120};
  std::chrono::seconds rehandshake{3600};  // a fresh TLS handshake (new ECDHE); 0 = never
  std::chrono::seconds dead_peer{40};
  int cert_expiry_warning_days = 30;
  // [tunnel] offloads: the kernel offloads to use where the kernel has them (default all).
  bool udp_gso = true;
  bool udp_gro = true;
  bool tun_tso = true;  // read TCP super-packets from the TUN device and segment them
  bool tun_uso = true;  // ... and UDP ones (TUN_F_USO4/6, Linux 6.2 and later)
  bool tun_gro = true;  // write received TCP segments to the TUN device coalesced
  // [tunnel] workers: threads that seal packets at once, the loop's included; 0 = one per core.
  int workers = 0;
};

// The network key (docs/hardening.md, "Network key"): none, a key file, or one derived from the
// CA certificate. Written `network_key = "FILE"` or `network_key = "ca"`.
struct NetworkKeySetting {
  bool from_ca = false;
  std::filesystem::path file;  // set unless from_ca; resolved like the other paths
};

struct PeerConfig {
  std::filesystem::path source;  // the peer file
  std::string name;
  std::vector<protocol::IpPrefix> addresses;  // one or two: at most one IPv4 and one IPv6
  protocol::Endpoint listen;
  bool tcp_listen = false;  // also accept TCP from peers on the listen address and port
  // Where peers can reach our TCP listener (e.g. a forwarded port); at most 4, only with
  // tcp_listen. Specific addresses with non-zero ports.
  std::vector<protocol::Endpoint> tcp_advertise;
  // Resolved against the folder of the peer file when relative in the file.
  std::filesystem::path ca, cert, key, control_socket;
  std::optional<NetworkKeySetting> network_key;
  // Who `up` runs as once its devices and sockets are open: "" = the "vpnpeer" system user if it
  // exists, else "nobody"; "root" keeps root.
  std::string user;
  std::string log_level = "info";  // "debug", "info", "warn" or "error"
  std::string tun_name = "vpn0";
  int mtu = 1400;
  TunnelSettings tunnel;
  std::vector<PeerEntry> peers;
  std::vector<RendezvousEntry> rendezvous;
  PathSettings paths;
  NatSettings nat;
  // [pki] blocklist: SHA-256 fingerprints (lowercase hex, as `vpnpeer cert show` prints them) of
  // certificates refused, and whose sessions are closed, at start and on reload.
  std::vector<std::string> blocklist;
  // [metrics] listen: where Prometheus scrapes GET /metrics over HTTP; absent: no listener.
  std::optional<protocol::Endpoint> metrics_listen;
};

// A certificate fingerprint as written in a file: 64 hex digits, optionally in colon-separated
// pairs, either case. Returns it as 64 lowercase digits, or nullopt.
std::optional<std::string> normalizeFingerprint(std::string_view text);

// 1 to 64 characters of [a-z0-9._-], starting with a letter or a digit.
bool isValidPeerName(std::string_view name);

// Parses "host:port" or "[v6]:port" where host is a DNS name or an IP address; nullopt if malformed
// (empty host, bad characters, port missing or not in 1..65535).
std::optional<RendezvousEntry> parseHostPort(std::string_view text);

}  // namespace vpn::config
