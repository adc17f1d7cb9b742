#pragma once
// RendezvousEngine: the rendezvous server's I/O-free core. Peers open the same TLS-keyed session
// they use between each other (handshake packets 0x41, the rendezvous always the TLS server), then
// REGISTER their local candidates; the engine stores them with the reflexive endpoint it observes,
// answers LOOKUPs by introducing both peers to each other at the same instant, answers keepalive
// probes, and reflects STUN Binding requests (RFC 8489, with RFC 5780 CHANGE-REQUEST when the
// host has the alternate sockets).
//
// Inputs: onDatagram(now, socket, from, bytes) for every UDP datagram, onTimer(now) when
// nextDeadline() passes. Outputs: RendezvousSink::sendFrom(socket, to, bytes). No clock, no
// socket: tests drive it on a virtual clock.
//
// Ownership: the TlsContext and the sink must outlive the engine. Threading: single-threaded.
// Errors: the constructor throws std::invalid_argument if the context's certificate lacks the
// rendezvous role. After that nothing throws except std::bad_alloc; bad input is counted as a
// drop by reason (status().drops), never fatal.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "crypto/tls_context.hpp"
#include "protocol/candidate.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::rendezvous {

// Which local socket a datagram arrived on or must leave from. `listen` indexes the primary
// listen sockets (one per [rendezvous] listen entry); the alternates exist once, paired with the
// primary RendezvousOptions::listen[stun_listen], and only serve STUN.
enum class SocketRole : std::uint8_t { kPrimary, kAltPort, kAltAddress, kAltBoth };

struct SocketId {
  SocketRole role = SocketRole::kPrimary;
  std::uint8_t listen = 0;
  friend bool operator==(const SocketId&, const SocketId&) = default;
};

// Contract: called synchronously on the engine's thread; `bytes` are valid only during the call;
// the sink must not call back into the engine and must not throw. A socket the host does not
// have (e.g. kAltBoth without alternates) is never asked for.
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
  std::size_t rate_limit_sources = 4096;
  double lookup_burst = 40;                // lookups per registered peer
  double lookup_per_second = 20;
  // The STUN reflector. `listen`: the local endpoints of the primary listen sockets, by
  // SocketId::listen (RESPONSE-ORIGIN; an unspecified address is left out). The alternates pair
  // with listen[stun_listen]: alt_port gives "change port"; "change IP" needs alt_address and a
  // specific (not unspecified) listen[stun_listen] address. OTHER-ADDRESS is sent only when both
  // alternates exist (RFC 5780 section 7.4).
  std::vector<protocol::Endpoint> listen;
  std::uint8_t stun_listen = 0;
  std::optional<std::uint16_t> alt_port;
  std::optional<protocol::IpAddress> alt_address;
};

struct RegisteredPeerStatus {
  std::string name;
  protocol::Endpoint endpoint;                 // reflexive: where its packets come from
  std::vector<protocol::Candidate> candidates; // local candidates it announced
  std::vector<protocol::IpPrefix> addresses;   // certified overlay addresses
  double age_s = 0;                            // since its first REGISTER on this session
  double idle_s = 0;                           // since its last authenticated packet
};

struct RendezvousCounters {
  std::uint64_t handshakes = 0;     // sessions established
  std::uint64_t registrations = 0;  // REGISTER messages accepted
  std::uint64_t lookups = 0;
  std::uint64_t introductions = 0;  // pairs introduced
  std::uint64_t lookup_failures = 0;
  std::uint64_t keepalive_replies = 0;
  std::uint64_t stun_requests = 0;
  std::uint64_t expired = 0;        // registrations dropped for silence
  std::uint64_t replaced = 0;       // sessions replaced by a newer one of the same name
};

struct RendezvousStatus {
  std::vector<RegisteredPeerStatus> peers;  // registered only, sorted by name
  std::size_t sessions = 0;                 // established, registered or not
  std::size_t pending_handshakes = 0;
  std::size_t lingering_handshakes = 0;
  RendezvousCounters counters;
  std::vector<std::pair<std::string, std::uint64_t>> drops;  // reason -> count, non-zero only
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
  void onTimer(Instant now);
  // kNever when nothing is pending (an idle server with no peers).
  Instant nextDeadline() const;
  // `with_peers` false skips the per-peer list (cheap for 100k peers).
  RendezvousStatus status(Instant now, bool with_peers = true) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::rendezvous
