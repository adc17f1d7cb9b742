#pragma once
// Engine: the peer's I/O-free core. It takes datagrams, TUN packets and the time in, and puts
// datagrams and TUN packets out through an EngineSink. It does no I/O and reads no clock, so the
// whole protocol (handshake over a reliable channel, data path, key updates, keepalives, dead-peer
// detection, roaming, rendezvous registration and UDP hole punching) runs deterministically in
// tests on a virtual clock.
//
// Rendezvous and punching: with EngineOptions::rendezvous set, the engine keeps a session with
// each server, registers the candidates given by setLocalCandidates(), and for a peer it cannot
// reach (no endpoint configured, or the direct handshake failed, or a TUN packet for an unrouted
// overlay address) asks for an introduction, probes the peer's candidates and starts the
// handshake on the first path that answers. A peer for which no path answers shows the state
// "unreachable" and is retried with backoff.
//
// Driving it: call start() once, then onDatagram()/onTunPacket() as input arrives, and onTimer()
// whenever nextDeadline() has passed (nextDeadline() may change after any call; re-arm the timer
// after each). `now` must never go backwards.
//
// Ownership and lifetime: the TlsContext and the sink are borrowed and must outlive the engine.
// Threading: single-threaded; every call on one thread (the event loop's). The sink is called
// synchronously from inside these calls and must not call back into the engine.
// Errors: nothing from the network throws or tears down an established session; bad input is
// dropped and counted by reason (see status().drops). The per-packet paths do not allocate, except
// when a key update derives a new key. The constructor throws std::invalid_argument for an
// unusable configuration (empty own_name, a peer named like us, duplicate peers).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "client/engine/engine_sink.hpp"
#include "client/engine/engine_status.hpp"
#include "crypto/tls_context.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::client {

struct PeerSpec {
  std::string name;
  std::optional<protocol::Endpoint> endpoint;
};

struct EngineOptions {
  std::string own_name;         // must equal our certificate's CN
  std::vector<PeerSpec> peers;  // the only peers we accept
  Duration keepalive_interval = std::chrono::seconds(10);
  Duration dead_peer_timeout = std::chrono::seconds(40);
  Duration rekey_interval = std::chrono::seconds(120);
  std::uint64_t rekey_after_packets = (1ull << 32) - (1ull << 16);  // per key, per direction
  Duration handshake_timeout = std::chrono::seconds(10);
  // Rendezvous servers (already resolved). We hold one session with each (we are always the TLS
  // client; the server's certificate must carry the rendezvous role), register our candidates
  // there, and ask them to introduce us to peers we cannot reach directly.
  std::vector<protocol::Endpoint> rendezvous;
  Duration register_refresh = std::chrono::seconds(25);
  // Hole punching: how long one introduction is probed before the peer is "unreachable", and the
  // first and longest wait before the whole lookup is tried again.
  Duration punch_duration = std::chrono::seconds(10);
  Duration punch_retry = std::chrono::seconds(30);
  Duration punch_retry_max = std::chrono::minutes(5);
};

class Engine {
 public:
  Engine(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts handshakes with the peers that have endpoints, and with the rendezvous servers.
  void start(Instant now);
  // Replaces the rendezvous list (e.g. after re-resolving host names). Sessions with endpoints
  // still listed are kept; new ones are established; sessions with removed endpoints are dropped.
  void setRendezvous(Instant now, std::vector<protocol::Endpoint> rendezvous);
  // Our local candidates: interface addresses with the listen port. Call at start and whenever
  // they change; a change re-registers with every established rendezvous. At most
  // protocol::kMaxCandidates are announced (the first ones).
  void setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  // A datagram from the UDP socket. May decrypt in place.
  void onDatagram(Instant now, const protocol::Endpoint& from, std::span<std::uint8_t> datagram);
  // frame = [kDataHeaderSize bytes headroom | inner packet, len bytes | >= kAeadTagSize tailroom];
  // the engine seals in place and sends frame.first(kDataHeaderSize + len + kAeadTagSize).
  void onTunPacket(Instant now, std::span<std::uint8_t> frame, std::size_t len);
  void onTimer(Instant now);
  // kNever if nothing is armed.
  Instant nextDeadline() const;
  EngineStatus status(Instant now) const;

 private:
  struct Impl;  // engine_impl.hpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::client
