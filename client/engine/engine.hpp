#pragma once
// Engine: the peer's I/O-free core. It takes datagrams, TUN packets and the time in, and puts
// datagrams and TUN packets out through an EngineSink. It does no I/O and reads no clock, so the
// whole protocol (handshake over a reliable channel, data path, key updates, keepalives, dead-peer
// detection, rendezvous registration, hole punching, relaying, path selection and roaming) runs
// deterministically in tests on a virtual clock.
//
// Paths (docs/paths.md; path.hpp): every session is on one active path: direct-udp, direct-tcp,
// relay-udp or relay-tcp (best first). An authenticated packet tells us where the peer is: one
// arriving on a better path, or on a direct path from a new endpoint (roaming), moves the session
// there at once, with no new handshake. In outline:
//  - a peer with a configured endpoint gets a handshake there; any other peer (or one whose
//    direct handshake failed) is looked up at the rendezvous servers and punched;
//  - no session relay_after after the first attempt: a relay channel is bound at the registered
//    rendezvous with the lowest RTT (RELAY_REQUEST / RELAY_BOUND) and the handshake runs over it;
//    once any session exists a standby channel is kept bound the same way;
//  - while relayed, direct paths are retried every direct_retry (doubling to direct_retry_max);
//    a probe reply or an authenticated direct packet moves the session to the direct path;
//  - a direct path we send on that brings no authenticated packet for demote_after (probed every
//    second meanwhile, and sent on together with the relay) is demoted to the relay and held down
//    (5 s doubling to 2 min, reset after 10 min without a demotion);
//  - a packet arriving on the relay never moves a working direct path; while the newest
//    authenticated packet came over a worse path we send on both;
//  - onNetworkChange() re-registers, probes every session and sends on the direct path and the
//    standby relay until the direct path answers;
//  - a rendezvous whose UDP gets no answer for udp_timeout is reached over TCP (its tcp address),
//    and UDP is retried every minute; a peer announcing tcp candidates is tried over direct TCP
//    after punching found nothing.
// Keepalive liveness requests are answered on the path they arrived on, so a reply proves that
// path both ways. status() explains each peer's path in words (path_reason, history).
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
// when a key update derives a new key (a relayed data packet costs one copy into a scratch
// buffer). The constructor throws std::invalid_argument for an unusable configuration (empty
// own_name, a peer named like us, duplicate peers).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "client/engine/engine_sink.hpp"
#include "client/engine/engine_status.hpp"
#include "crypto/network_key.hpp"
#include "crypto/tls_context.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/nat_type.hpp"

namespace vpn::client {

struct PeerSpec {
  std::string name;
  std::optional<protocol::Endpoint> endpoint;
};

// One rendezvous server, resolved.
struct RendezvousSpec {
  protocol::Endpoint udp;                 // the UDP address
  std::optional<protocol::Endpoint> tcp;  // the TCP address, if the peer file gives one
  std::optional<std::string> name = std::nullopt;  // pinned: its certificate must name this
  // The same server's UDP address of the other IP family (a dual-stack server and peer): we
  // send ALSO_HERE there so it learns our reflexive endpoint of that family too.
  std::optional<protocol::Endpoint> udp_alt = std::nullopt;
  friend bool operator==(const RendezvousSpec&, const RendezvousSpec&) = default;
};

struct EngineOptions {
  std::string own_name;         // must equal our certificate's CN
  std::vector<PeerSpec> peers;  // the only peers we accept
  Duration keepalive_interval = std::chrono::seconds(10);
  Duration dead_peer_timeout = std::chrono::seconds(40);
  Duration rekey_interval = std::chrono::seconds(120);
  std::uint64_t rekey_after_packets = (1ull << 32) - (1ull << 16);  // per key, per direction
  Duration handshake_timeout = std::chrono::seconds(10);
  // Rendezvous servers. We hold one session with each (we are always the TLS client; the
  // server's certificate must carry the rendezvous role), register our candidates there, ask them
  // to introduce us to peers we cannot reach directly, and to relay when no direct path works.
  std::vector<RendezvousSpec> rendezvous;
  Duration register_refresh = std::chrono::seconds(25);
  // Hole punching: how long one introduction is probed, and the first and longest wait before
  // the whole lookup is tried again for a peer with no session at all.
  Duration punch_duration = std::chrono::seconds(10);
  // As TLS client, send the ClientHello with the first probes of a punch to the peer's best
  // public candidate instead of after a probe answers (half a round trip sooner). Tests turn it
  // off to compare.
  bool early_hello = true;
  // With early_hello: start that attempt already when we send the LOOKUP, and give its
  // ClientHello to the rendezvous (HELLO_VIA), which passes it to the peer with the
  // introduction; the peer answers half a round trip sooner still. Tests turn it off to compare.
  bool hello_via_rendezvous = true;
  // The one IP family our UDP socket can send to (an IPv4 or a specific IPv6 listen address);
  // unset for a dual-stack socket. Peers' UDP candidates of the other family are not probed.
  std::optional<protocol::IpAddress::Family> udp_family;
  // Port prediction (docs/paths.md rule 14), off by default. Behind a symmetric NAT facing a cone
  // one: open prediction_sockets extra sockets and probe the peer from each. Behind the cone NAT
  // facing a symmetric one: send prediction_probes probes to random ports of the peer's public
  // address, prediction_rate a second at most.
  bool port_prediction = false;
  std::size_t prediction_sockets = 256;
  std::size_t prediction_probes = 2048;
  std::size_t prediction_rate = 256;
  Duration punch_retry = std::chrono::seconds(30);
  Duration punch_retry_max = std::chrono::minutes(5);
  // Paths (docs/paths.md).
  Duration relay_after = std::chrono::seconds(2);   // no session this long after the first attempt -> relay
  Duration udp_timeout = std::chrono::seconds(3);   // rendezvous UDP unanswered this long -> its TCP
  Duration demote_after = std::chrono::seconds(4);  // direct path sent on, silent this long -> demote
  Duration direct_retry = std::chrono::seconds(5);  // background direct attempts while relayed
  Duration direct_retry_max = std::chrono::seconds(60);
  bool relay = true;  // false: never ask for relay channels (peer file paths.relay)
  // Path MTU (pmtu_search.hpp): the TUN device's MTU is the largest inner packet; with discovery
  // each UDP path's own is found with padded probes, and larger packets are refused with ICMP or
  // sent fragmentable (protocol/inner_mtu.hpp), and TCP SYNs clamped to it.
  std::size_t tun_mtu = 1400;
  bool pmtu_discovery = true;
  // Fresh keys: the TLS client of each pair runs a new handshake (fresh ECDHE) this long after the
  // last one, make-before-break; zero never does. The HKDF key updates (rekey_interval) go on
  // within each session.
  Duration rehandshake_interval = std::chrono::hours(1);
  // The wall clock, for certificate expiry (tests map their virtual clock onto it).
  std::function<std::chrono::system_clock::time_point()> wall_clock;
  // The network's outer key: when set, every handshake packet and cookie reply we send is sealed
  // with it, and plain ones we receive are dropped unanswered (session/outer_seal.hpp).
  std::optional<crypto::NetworkKey> network_key;
};

class Engine {
 public:
  Engine(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts handshakes with the peers that have endpoints, and with the rendezvous servers.
  void start(Instant now);
  // Replaces the peer list (a reload): peers no longer listed are closed and forgotten, new ones
  // are added (and dialled if they have an endpoint), listed ones keep their sessions.
  void setPeers(Instant now, std::vector<PeerSpec> peers);
  // Replaces the rendezvous list (e.g. after re-resolving host names, or a reload). Sessions with
  // servers still listed (same UDP address, same name pin) are kept; new ones are established;
  // removed ones are dropped; a changed pin or TCP address (while on TCP) reconnects.
  void setRendezvous(Instant now, std::vector<RendezvousSpec> rendezvous);
  // Our local candidates: interface addresses with the listen port. Call at start and whenever
  // they change; a change re-registers with every established rendezvous. At most
  // protocol::kMaxCandidates are announced (the first ones, tcp candidates included).
  void setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  // Endpoints where we accept TCP (our listener on local addresses, plus advertised ones),
  // announced as candidates of kind tcp. A change re-registers.
  void setTcpCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  // The public endpoint our router maps to our port (client/portmap), announced as a candidate of
  // kind mapped; nullopt when there is none. A change re-registers.
  void setMappedCandidate(Instant now, std::optional<protocol::Endpoint> mapped);
  // Our NAT type (from the daemon's discovery), sent in REGISTER. A change re-registers.
  void setNatType(Instant now, protocol::NatType type);
  // NAT discovery found that our NAT gives new mappings consecutive ports this far apart (1..8;
  // 0: it does not, or it is unknown). With port prediction on and a symmetric NAT, lookups then
  // carry a reading of the NAT's next port (docs/paths.md rule 14).
  void setPortStride(Instant now, std::uint8_t stride);
  // The keepalive (liveness probe) interval of every session from now on, peers and rendezvous
  // servers alike (the daemon shortens it to what the NAT's mapping lifetime needs). Probes due
  // later than now + interval are brought forward.
  void setKeepaliveInterval(Instant now, Duration interval);
  // An address or route change (rtnetlink): re-register, probe every session, send on the direct
  // path and the standby relay until the direct path answers (docs/paths.md rule 7).
  void onNetworkChange(Instant now);
  // A datagram from the UDP socket, or (kTcp) one framed datagram from the TCP connection with
  // `from`. May decrypt in place.
  // `local`: the prediction socket it arrived on (EngineSink::openPredictionSockets), 0 for the
  // tunnel's own socket and for TCP.
  void onDatagram(Instant now, const protocol::Endpoint& from, std::span<std::uint8_t> datagram,
                  Transport transport = Transport::kUdp, std::uint16_t local = 0);
  // Opening in batches (session/aead_batch.hpp): for a UDP datagram from `from` that is a data
  // packet of a running session in its current key phase, not a replay, the key and counter to
  // open it with; nullopt for anything else (handled whole by onDatagram). Changes nothing.
  // Feed the datagram, opened in place with that ticket, to onDatagramOpened with the result,
  // in arrival order; the ticket stays valid until the engine is called for anything else.
  std::optional<session::SealTicket> planOpen(const protocol::Endpoint& from,
                                              std::span<const std::uint8_t> datagram) const;
  void onDatagramOpened(Instant now, const protocol::Endpoint& from,
                        std::span<std::uint8_t> datagram, const session::PreOpened& pre);
  // The TCP connection with `remote` failed or closed (refused, timeout, reset, closed by the
  // other side). Paths over it are abandoned; a rendezvous reached over it reconnects.
  void onTcpClosed(Instant now, const protocol::Endpoint& remote, const std::string& reason);
  // True if a session, a handshake, a punch probe or a rendezvous uses the TCP connection with
  // `remote`: the edge closes connections nothing uses (junk frames alone do not count).
  bool usesTcp(const protocol::Endpoint& remote) const;
  // frame = [kDataHeaderSize bytes headroom | inner packet, len bytes | >= kAeadTagSize tailroom];
  // the engine seals in place and sends frame.first(kDataHeaderSize + len + kAeadTagSize).
  void onTunPacket(Instant now, std::span<std::uint8_t> frame, std::size_t len);
  void onTimer(Instant now);
  // After the TLS context's blocklist changed (a reload): sessions with peers and servers whose
  // certificates it now blocks are closed; new handshakes with them fail.
  void closeBlocked(Instant now);
  // kNever if nothing is armed.
  Instant nextDeadline() const;
  EngineStatus status(Instant now) const;

 private:
  struct Impl;  // engine_impl.hpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::client
