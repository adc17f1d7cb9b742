#pragma once
// A snapshot of the engine's state for `vpnpeer status`. Plain values, copied out by
// Engine::status(); holding one never touches the engine.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::client {

// One address where a peer may be reached, as seen by hole punching.
struct CandidateStatus {
  protocol::Endpoint endpoint;
  std::string kind;   // "local" | "reflexive" | "peer-reflexive" | "static" | "tcp"
  std::string state;  // "untried" | "probing" | "succeeded" | "failed"
  std::uint64_t probes_sent = 0;
  std::uint64_t replies = 0;  // valid probe replies received from it
};

// Our session with one rendezvous server.
struct RendezvousStatus {
  protocol::Endpoint endpoint;  // its UDP address (its identity, also when reached over TCP)
  std::string state;  // "connecting" | "established"
  bool registered = false;
  std::optional<protocol::Endpoint> reflexive;  // our public endpoint as the server sees it
  std::optional<protocol::Endpoint> also_at;     // its address of the other IP family, if known
  std::optional<protocol::Endpoint> reflexive_alt;  // ... and our public endpoint seen there
  // Set when the other family's address answered first (RFC 8305 race): where UDP goes, and why.
  std::optional<protocol::Endpoint> via;
  std::string via_reason;
  std::optional<Duration> rtt;
  std::string last_error;
  std::string transport = "udp";      // "udp" | "tcp" (UDP got no answer; see docs/paths.md)
  std::optional<protocol::Endpoint> tcp;  // its TCP listener we fall back to (none: no fallback)
  std::uint32_t relay_channels = 0;   // our relay channels bound through this server
};

// One change of a peer's path, for `vpnpeer explain`.
struct PathEvent {
  Instant at{};
  std::string from, to;  // path names, as PeerStatus::path
  std::string reason;    // in plain words
};

struct PeerStatus {
  std::string name;
  // "idle" | "connecting" | "established" | "unreachable" (hole punching found no path)
  std::string state;
  // Where we send now: the peer's endpoint on a direct path, the rendezvous' on a relayed one.
  std::optional<protocol::Endpoint> endpoint;
  // "direct-udp" | "direct-tcp" | "relay-udp" | "relay-tcp" | "none" (docs/paths.md)
  std::string path;
  std::optional<protocol::Endpoint> relay;     // the rendezvous relaying, or holding the standby channel
  std::uint16_t relay_channel = 0;             // 0: none bound
  std::string relay_state;                     // "none" | "requested" | "bound" | "failed: <why>"
  std::string path_reason;                     // one sentence: why this path
  std::string nat_type = "unknown";            // the peer's, from its introduction
  // Port prediction in the last punch, in words ("" when none ran): docs/paths.md rule 14.
  std::string prediction;
  std::vector<PathEvent> history;              // the last path changes, oldest first
  std::optional<Instant> direct_retry_at;      // next background direct attempt while relayed
  std::optional<Duration> rtt;
  // Path MTU (pmtu_search.hpp): the largest inner packet sent on the active path now, the search
  // ("off" on TCP paths or when turned off, "searching", "done", "unsupported": the peer does
  // not answer probes) and the largest size proven by a probe (0: none).
  std::size_t mtu = 0;
  std::string pmtu_state = "off";
  std::size_t pmtu_proven = 0;
  std::vector<protocol::IpPrefix> addresses;   // certified overlay addresses (empty until a handshake)
  std::vector<std::string> groups;             // certified groups (empty until a handshake)
  std::string cert_fingerprint;                // SHA-256 of its certificate, hex ("" until then)
  std::string cipher;                          // "aes-256-gcm" / "chacha20-poly1305" / ""
  // Inner IP bytes and packets through the tunnel (keepalives not included), over all sessions.
  std::uint64_t tx_bytes = 0, rx_bytes = 0, tx_packets = 0, rx_packets = 0;
  std::optional<Instant> last_handshake;       // when the current session was established
  std::uint64_t handshakes = 0;                // completed handshakes with this peer
  std::uint64_t key_updates = 0;               // data key updates (ours or the peer's), all sessions
  std::string last_error;                      // e.g. "handshake failed: peer certificate rejected: ..."
  // Session indices (0 when not established): ours is in the peer's packets to us, and back.
  std::uint32_t local_index = 0, remote_index = 0;
  // Candidates from the last introduction (and the static endpoint), best first.
  std::vector<CandidateStatus> candidates;
};

struct EngineStatus {
  std::string nat_type = "unknown";  // ours, as the daemon's discovery found it
  // Our NAT's step between new mappings when it allocates in sequence (0: it does not, or not
  // known), and the port readings lookups carried or went without (engine_port_reading.cpp).
  unsigned nat_port_stride = 0;
  std::uint64_t port_readings = 0;
  std::uint64_t port_readings_failed = 0;
  // The daemon's, for explain: our router's port mapping in words ("pcp maps 203.0.113.5:60001
  // (gateway ...)", "none (...)", "off"); empty when not known (tests, the engine alone).
  std::string port_mapping;
  std::vector<PeerStatus> peers;
  std::vector<RendezvousStatus> rendezvous;
  // reason -> count, every reason listed even at 0
  std::vector<std::pair<std::string, std::uint64_t>> drops;
  // Handshake admission: ClientHellos answered with a cookie instead of a handshake, and the
  // attempts (ours and rivals) in progress now.
  std::uint64_t cookie_replies = 0;
  std::size_t handshake_attempts = 0;
  // ClientHellos through the rendezvous: ours given to it (HELLO_VIA), peers' it passed on to us
  // (HELLO_FROM) and that we answered.
  std::uint64_t hellos_via_sent = 0;
  std::uint64_t hellos_from_received = 0;
  // Introduced candidates not probed: unusable addresses, stray ports, our own addresses.
  std::uint64_t candidates_rejected = 0;
  // The network key: "" (none), "file" or "ca", and its fingerprint (to compare across hosts).
  std::string network_key;
  std::string network_key_fingerprint;

  // Convenience for tests and the CLI: the count for one reason (0 if unknown).
  std::uint64_t drop(std::string_view reason) const {
    for (const auto& [name, count] : drops) {
      if (name == reason) {
        return count;
      }
    }
    return 0;
  }
  const PeerStatus* peer(std::string_view name) const {
    for (const auto& p : peers) {
      if (p.name == name) {
        return &p;
      }
    }
    return nullptr;
  }
};

}  // namespace vpn::client
