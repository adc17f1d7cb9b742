#pragma once
// RendezvousState: the engine's side of one rendezvous server (engine_rendezvous.cpp,
// engine_rendezvous_trials.cpp, engine_rendezvous_config.cpp): the session, the attempts that
// lead to it, registration, and how the server is reached. Owned by Engine::Impl, one per
// configured server; single-threaded like the engine. Not part of the public interface.
#include <memory>
#include <optional>
#include <string>

#include "base/time.hpp"
#include "client/engine/engine.hpp"
#include "client/engine/path.hpp"
#include "client/engine/peer_session.hpp"
#include "protocol/ip_address.hpp"
#include "session/handshake.hpp"

namespace vpn::client {

// How long a handshake to a rendezvous' preferred address may go unanswered before its other
// family's address is tried beside it (RFC 8305's connection attempt delay).
inline constexpr Duration kFamilyRaceDelay = milliseconds(250);
// While on TCP, UDP is tried again this often, but the first time (after a switch) this soon.
inline constexpr Duration kUdpRetry = seconds(60);
inline constexpr Duration kFirstUdpTrial = seconds(1);

// Our session with one rendezvous server (engine_rendezvous.cpp). We are always its TLS client.
// It is reached over UDP, or over TCP when UDP got no answer (docs/paths.md rule 8).
struct RendezvousState {
  RendezvousSpec spec;
  Transport transport = Transport::kUdp;
  std::unique_ptr<Handshake> pending;
  std::unique_ptr<PeerSession> session;
  bool registered = false;
  std::optional<protocol::Endpoint> reflexive;
  // Dual stack: our reflexive endpoint of the other family (SEEN_HERE to our ALSO_HERE sent to
  // spec.udp_alt at each REGISTERED), and the request it answered.
  std::optional<protocol::Endpoint> reflexive_alt;
  Instant reflexive_alt_at{};
  std::uint32_t also_here_request = 0;
  Duration refresh{};
  Instant next_register_at = kNever;
  Instant retry_at = kNever;
  Duration retry_backoff = seconds(1);
  std::string last_error;
  // UDP answers (while on UDP): first request since the last packet from the server, and the
  // liveness probes sent meanwhile.
  Instant unanswered_since = kNever;
  Instant next_probe_at = kNever;
  std::string tcp_reason;  // why we reach it over TCP
  Instant last_poke{};  // last liveness request sent because a relay may be needed (see pokeRelay)
  // While on TCP: a UDP handshake tried every minute; its success moves the session back to UDP.
  std::unique_ptr<Handshake> udp_trial;
  Instant udp_trial_at = kNever;
  // Set on each switch to TCP: the first UDP trial comes soon (kFirstUdpTrial), for a server
  // that was only down a moment (a restart) rather than behind a UDP block; later ones each
  // kUdpRetry.
  bool first_udp_trial = false;
  std::string cert_fingerprint;      // the server's certificate (blocklist)
  Instant cert_expires_at = kNever;  // the session ends then
  // Dual stack (RFC 8305): a handshake to spec.udp_alt started when the one to spec.udp has heard
  // nothing for kFamilyRaceDelay; the first to finish wins. on_alt: the alternate won, and UDP
  // goes there (spec.udp stays the server's identity). Each new connection starts with spec.udp.
  std::unique_ptr<Handshake> alt_race;
  bool on_alt = false;
  std::string family_note;  // why we are on the alternate (status)

  // Its UDP address in use.
  const protocol::Endpoint& udp() const {
    return on_alt && spec.udp_alt ? *spec.udp_alt : spec.udp;
  }
  // Where its packets go now.
  Path path() const {
    return transport == Transport::kTcp && spec.tcp ? Path::tcp(*spec.tcp) : Path::udp(udp());
  }
  // True if `p` (a direct path) is this server on any of its transports.
  bool isAt(const Path& p) const {
    return p.transport == Transport::kUdp ? (p.endpoint == spec.udp || p.endpoint == udp())
                                          : (spec.tcp && p.endpoint == *spec.tcp);
  }
};

}  // namespace vpn::client
