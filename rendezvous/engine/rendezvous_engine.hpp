#pragma once
// RendezvousEngine: the rendezvous server's I/O-free core. Peers open the same TLS-keyed session
// they use between each other (handshake packets 0x41, the rendezvous always the TLS server), then
// REGISTER their local candidates; the engine stores them with the reflexive endpoint it observes,
// answers LOOKUPs by introducing both peers to each other at the same instant, binds relay
// channels between registered peers (RELAY_REQUEST) and forwards their relay packets (0x78,
// docs/paths.md), answers keepalive probes, and reflects STUN Binding requests (RFC 8489, with
// RFC 5780 CHANGE-REQUEST when the host has the alternate sockets).
//
// Inputs: onDatagram(now, socket, from, bytes) for every UDP datagram and every datagram framed
// on a TCP connection (SocketRole::kTcp with the connection's id), onConnectionClosed(now, conn)
// when a TCP connection ends, onTimer(now) when nextDeadline() passes. Outputs:
// RendezvousSink::sendFrom(socket, to, bytes). No clock, no socket: tests drive it on a virtual
// clock.
//
// Ownership: the TlsContext and the sink must outlive the engine. Threading: single-threaded.
// Errors: the constructor throws std::invalid_argument if the context's certificate lacks the
// rendezvous role. After that nothing throws except std::bad_alloc; bad input is counted as a
// drop by reason (status().drops), never fatal. Relaying allocates nothing per packet: the
// received bytes are sent on as they are.
#include <array>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "crypto/network_key.hpp"
#include "crypto/tls_context.hpp"
#include "protocol/candidate.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/nat_type.hpp"

namespace vpn::rendezvous {

// Which local socket a datagram arrived on or must leave from. `listen` indexes the primary
// listen sockets (one per [rendezvous] listen entry); the alternates exist once, paired with the
// primary RendezvousOptions::listen[stun_listen], and only serve STUN. kTcp is one accepted TCP
// connection: `listen` indexes the TCP listeners and `conn` names the connection (the host's id,
// nonzero and not reused while the engine runs; 0 for UDP). Replies to a kTcp SocketId go on
// that connection whatever the `to` endpoint says.
enum class SocketRole : std::uint8_t { kPrimary, kAltPort, kAltAddress, kAltBoth, kTcp };

struct SocketId {
  SocketRole role = SocketRole::kPrimary;
  std::uint8_t listen = 0;
  std::uint32_t conn = 0;
  friend bool operator==(const SocketId&, const SocketId&) = default;
};

// Contract: called synchronously on the engine's thread; `bytes` are valid only during the call;
// the sink must not call back into the engine and must not throw. A socket the host does not
// have (e.g. kAltBoth without alternates) is never asked for; a TCP connection that is gone (its
// close not yet reported) is the sink's to drop silently.
class RendezvousSink {
 public:
  virtual ~RendezvousSink() = default;
  virtual void sendFrom(SocketId from, const protocol::Endpoint& to,
                        std::span<const std::uint8_t> bytes) = 0;
};

struct RendezvousOptions {
  Duration refresh = seconds(25);          // told to peers; registrations expire after 3x
  Duration handshake_timeout = seconds(10);
  Duration linger = seconds(5);            // a finished handshake stays to ack the last flight
  std::size_t max_pending_handshakes = 1024;
  double handshake_burst = 8;              // new handshakes per source address
  double handshake_per_second = 2;
  double handshake_network_burst = 32;     // ... per IPv6 /64
  double handshake_network_per_second = 8;
  double handshake_global_burst = 200;     // ... from everyone
  double handshake_global_per_second = 100;
  // New handshakes started without a cookie round trip from sources that have not proved their
  // address (all sources together), while fewer than a quarter of max_pending_handshakes are in
  // use. Each answers within a 1x send budget until the client's next packet proves it. Beyond
  // this, and under load, every unproven source gets a cookie. 0 = always a cookie.
  double cookieless_burst = 16;
  double cookieless_per_second = 8;
  // STUN answers per source address, and the allowance for answers larger than their request
  // (requests without PADDING): per address, and in excess bytes for everyone.
  double stun_burst = 20;
  double stun_per_second = 10;
  double stun_excess_address_burst = 8;
  double stun_excess_address_per_second = 2;
  double stun_excess_rate = 16384;         // bytes/s
  double stun_excess_burst = 32768;
  std::size_t rate_limit_sources = 4096;
  double lookup_burst = 40;                // lookups and relay requests per registered peer
  double lookup_per_second = 20;
  // Relaying between registered peers (docs/paths.md). Rate and burst are in bytes of relay
  // datagrams per sending peer; a datagram larger than the burst passes only from a full bucket.
  bool relay = true;
  std::size_t relay_max_channels = 256;    // per peer
  double relay_rate = 12.5e6;              // bytes/s (100 Mbit/s)
  double relay_burst = 1e6;                // bytes
  std::uint64_t relay_max_bytes = 0;       // per session, all channels; 0 = unlimited
  // The same byte bucket per receiving peer, and one for all relaying together.
  double relay_global_rate = 125e6;        // bytes/s (1 Gbit/s)
  double relay_global_burst = 4e6;         // bytes
  Duration relay_idle = seconds(75);       // a channel nobody asked for or sent on is freed
  // The STUN reflector. `listen`: the local endpoints of the primary listen sockets, by
  // SocketId::listen (RESPONSE-ORIGIN; an unspecified address is left out). The alternates pair
  // with listen[stun_listen]: alt_port gives "change port"; "change IP" needs alt_address and a
  // specific (not unspecified) listen[stun_listen] address. OTHER-ADDRESS is sent only when both
  // alternates exist (RFC 5780 section 7.4).
  std::vector<protocol::Endpoint> listen;
  std::uint8_t stun_listen = 0;
  std::optional<std::uint16_t> alt_port;
  std::optional<protocol::IpAddress> alt_address;
  // The network's outer key: when set, handshakes and STUN are served only sealed with it, and
  // everything else unsealed gets no answer (session/outer_seal.hpp).
  std::optional<crypto::NetworkKey> network_key;
  // The wall clock, for certificate expiry (tests map their virtual clock onto it).
  std::function<std::chrono::system_clock::time_point()> wall_clock;
};

struct RegisteredPeerStatus {
  std::string name;
  protocol::Endpoint endpoint;                 // reflexive: where its packets come from
  std::optional<protocol::Endpoint> also_at;   // its reflexive of the other family (ALSO_HERE)
  bool tcp = false;                            // its session reaches us over a TCP connection
  bool unreachable = false;                    // that TCP connection closed; not sent to
  protocol::NatType nat_type = protocol::NatType::kUnknown;  // as it announced in REGISTER
  std::vector<protocol::Candidate> candidates; // local candidates it announced
  std::vector<protocol::IpPrefix> addresses;   // certified overlay addresses
  double age_s = 0;                            // since its first REGISTER on this session
  double idle_s = 0;                           // since its last authenticated packet
  std::size_t relay_channels = 0;
  std::uint64_t relayed_bytes = 0;             // relay datagrams it sent that we forwarded
};

struct RendezvousCounters {
  std::uint64_t handshakes = 0;     // sessions established
  std::uint64_t cookie_replies = 0; // HELLOs answered with a cookie instead of a handshake
  std::uint64_t cookieless = 0;     // handshakes started for an unproven source without a cookie
  std::uint64_t pending_evicted = 0;  // stalled handshakes dropped to make room
  std::uint64_t candidates_rejected = 0;  // announced candidates not kept (protocol/candidate.hpp)
  std::uint64_t registrations = 0;  // REGISTER messages accepted
  std::uint64_t also_here = 0;      // ALSO_HERE answered (a peer's reflexive of its other family)
  std::uint64_t lookups = 0;
  std::uint64_t introductions = 0;  // pairs introduced
  std::uint64_t hellos_passed = 0;  // HELLO_FROM sent: a peer's first handshake packet passed on
  std::uint64_t lookup_failures = 0;
  std::uint64_t keepalive_replies = 0;
  std::uint64_t stun_requests = 0;
  std::uint64_t expired = 0;        // registrations dropped for silence
  std::uint64_t replaced = 0;       // sessions replaced by a newer one of the same name
  std::uint64_t relayed_packets = 0;
  std::uint64_t relayed_bytes = 0;  // whole relay datagrams (3-byte header included)
  std::uint64_t relay_binds = 0;    // channels live: both sides asked (asking again: not counted)
  std::uint64_t relay_offers = 0;   // requests passed on to a peer that has not asked (yet)
  std::uint64_t relay_idle_freed = 0;  // channels freed after relay_idle without use
  std::uint64_t relay_failures = 0; // RELAY_FAILED sent
};

struct RendezvousStatus {
  std::vector<RegisteredPeerStatus> peers;  // registered only, sorted by name
  std::size_t sessions = 0;                 // established, registered or not
  std::size_t sessions_tcp = 0;             // ... of which over a TCP connection
  std::size_t registered = 0;               // sessions that sent REGISTER
  std::size_t relay_channels = 0;           // channels bound between two peers
  std::size_t pending_handshakes = 0;
  std::size_t lingering_handshakes = 0;
  RendezvousCounters counters;
  std::vector<std::pair<std::string, std::uint64_t>> drops;  // reason -> count, non-zero only
  // The network key: "" (none), "file" or "ca", and its fingerprint.
  std::string network_key;
  std::string network_key_fingerprint;
};

class RendezvousEngine {
 public:
  RendezvousEngine(crypto::TlsContext& tls, RendezvousOptions options, RendezvousSink& sink);
  ~RendezvousEngine();
  RendezvousEngine(const RendezvousEngine&) = delete;
  RendezvousEngine& operator=(const RendezvousEngine&) = delete;

  // One datagram received on `on` from `from`. `bytes` is modified (opened in place).
  void onDatagram(Instant now, SocketId on, const protocol::Endpoint& from,
                  std::span<std::uint8_t> bytes);
  // A TCP connection ended: sessions on it are no longer sent to. They expire as usual unless an
  // authenticated packet from another socket moves them; pending handshakes on it are dropped.
  void onConnectionClosed(Instant now, std::uint32_t conn);
  // True if a session's current path or a pending handshake is on TCP connection `conn`.
  bool connectionInUse(std::uint32_t conn) const;
  void onTimer(Instant now);
  // kNever when nothing is pending (an idle server with no peers).
  Instant nextDeadline() const;
  // After the TLS context's blocklist changed (a reload): sessions of peers whose certificates it
  // now blocks are closed (their relay channels with them); returns how many.
  std::size_t closeBlocked(Instant now);
  // A reload: takes the limits from `fresh` (refresh, handshake, lookup and relay limits, relay
  // on or off, max_pending_handshakes); sockets, alternates, the network key and the clock stay
  // as constructed. Relay turned off stops forwarding at once; its channels expire when idle.
  // A shorter refresh expires registrations only once every peer has heard it.
  void setLimits(Instant now, const RendezvousOptions& fresh);
  // `with_peers` false skips the per-peer list (cheap for 100k peers).
  RendezvousStatus status(Instant now, bool with_peers = true) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::rendezvous
