#pragma once
// Engine internals shared by engine.cpp (lifecycle, dispatch, timers), engine_status.cpp
// (status snapshot), engine_handshake.cpp (matching handshake packets, roles, session install),
// engine_data.cpp (data path, keepalives, key updates), engine_paths.cpp (sending on a path,
// moving sessions between paths: upgrade, demotion, hold-down, dual-send, roaming),
// engine_relay.cpp (relay channels and the fallback to them), engine_rendezvous.cpp (rendezvous
// sessions over UDP or TCP, registration, control messages), engine_lookup.cpp (asking for
// introductions), engine_punch.cpp (introductions and hole punching, over UDP and to tcp
// candidates), engine_predict.cpp and engine_port_reading.cpp (port prediction). The per-peer
// state is in peer_state.hpp. Not part of the public interface.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/engine/drop_counters.hpp"
#include "client/engine/engine.hpp"
#include "client/engine/path.hpp"
#include "protocol/inner_mtu.hpp"
#include "client/engine/peer_session.hpp"
#include "client/engine/peer_state.hpp"
#include "client/engine/port_reading_state.hpp"
#include "client/engine/rendezvous_state.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/punch_packet.hpp"
#include "protocol/relay_packet.hpp"
#include "protocol/sealed_packet.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "session/handshake.hpp"
#include "session/admission.hpp"
#include "session/cookie.hpp"
#include "session/outer_seal.hpp"
#include "session/rate_limiter.hpp"

namespace vpn::client {

struct Engine::Impl {
  static constexpr std::size_t kMaxPendingHandshakes = 64;
  // From this many attempts on, every new ClientHello over UDP must echo a cookie.
  static constexpr std::size_t kCookieLoad = kMaxPendingHandshakes / 4;
  // Who asked for an attempt: we did, or a packet from a proven or an unproven source (which
  // bounds what the attempt may send before the peer answers: Handshake::Params::responder).
  // kVouched: a ClientHello the rendezvous passed on; its sender's address is the one the
  // rendezvous saw in its authenticated session, so no cookie and no send budget.
  enum class Admission { kOurs, kProven, kUnproven, kVouched };
  static constexpr Duration kMaxRetryBackoff = seconds(30);

  Impl(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink);

  // A DatagramSink bound to one path, for the handshake machinery (it addresses its endpoint;
  // the path decides the transport and the relay header).
  class PathSink final : public session::DatagramSink {
   public:
    PathSink(Impl& impl, const Path& path) : impl_(impl), path_(path) {}
    void sendDatagram(const protocol::Endpoint& /*to*/,
                      std::span<const std::uint8_t> bytes) override {
      impl_.sendOnPath(path_, bytes);
    }

   private:
    Impl& impl_;
    Path path_;
  };

  // Takes what a handshake flushes and sends nothing: an attempt with nowhere to send yet.
  class DiscardSink final : public session::DatagramSink {
   public:
    void sendDatagram(const protocol::Endpoint& /*to*/,
                      std::span<const std::uint8_t> /*bytes*/) override {}
  };

  // An opened inner IP packet from `peer`: to the TUN if its source is one the peer's
  // certificate gives it (engine_data.cpp).
  void deliverInner(PeerState& peer, std::span<std::uint8_t> plain);

  // engine_peers_config.cpp: the peer list changes (reload).
  void setPeers(Instant now, std::vector<PeerSpec> specs);
  void addPeer(const PeerSpec& spec, Instant now);
  void removePeer(PeerState& peer);

  // engine_pki.cpp: certificates and fresh keys.
  static constexpr Duration kPreviousGrace = seconds(15);
  static constexpr Duration kRehandshakeRetry = seconds(30);
  // Why a peer's or server's certificate may not (or no longer) carry a session: on the
  // blocklist, or expired on our clock. "" if it may.
  std::string certificateProblem(const crypto::CertIdentity& id, Instant now) const;
  // `not_after` on our clock (kNever if the wall clock says it is centuries away).
  Instant expiryInstant(const crypto::CertIdentity& id, Instant now) const;
  void closeBlocked(Instant now);
  // The replaced session keeps opening for kPreviousGrace.
  void retirePrevious(PeerState& peer, std::unique_ptr<PeerSession> old, Instant now);
  void dropPrevious(PeerState& peer);
  // Data for the previous session's index: opened and delivered like the session's.
  void onPreviousData(PeerState& peer, Instant now, const protocol::DataHeader& header,
                      std::span<std::uint8_t> datagram);
  // Expiry, the previous session's end, and the next fresh handshake (we are the TLS client).
  void serviceLifetime(PeerState& peer, Instant now);
  Instant lifetimeDeadline(const PeerState& peer) const;

  // engine_outer.cpp: the network key (docs/hardening.md, "Network key").
  enum class OuterProblem { kMismatch, kMissing, kUnexpected };
  // A sealed datagram (direct, or the inner datagram of a relay packet): open and dispatch it.
  void onSealed(Instant now, const Path& from, std::span<std::uint8_t> datagram);
  // True (and the packet counted and reported) if a plain handshake packet or cookie reply must
  // be dropped because we require the network key.
  bool refuseUnsealed(const Path& from);
  void reportOuter(OuterProblem problem, const Path& from);
  // The bytes to put on the wire for `bytes`: sealed into seal_scratch when we have a network key
  // and the family is sealable, else `bytes` itself; empty if sealing failed.
  std::span<const std::uint8_t> outerForm(std::span<const std::uint8_t> bytes);

  // engine.cpp
  void start(Instant now);
  void onDatagram(Instant now, const Path& from, std::span<std::uint8_t> datagram);
  void onRelayPacket(Instant now, const Path& from, std::span<std::uint8_t> datagram);
  void onTcpClosed(Instant now, const protocol::Endpoint& remote, const std::string& reason);
  bool usesTcp(const Path& tcp) const;
  void onTimer(Instant now);
  Instant nextDeadline() const;
  PeerState* findPeer(std::string_view name);
  std::uint32_t newIndex();
  SessionTiming timing() const {
    return {options.keepalive_interval, options.rekey_interval, options.rekey_after_packets,
            options.handshake_timeout};
  }
  void scheduleRetry(PeerState& peer, Instant now);
  void dropSession(PeerState& peer, Instant now, std::string reason);
  // Where a new handshake with `peer` should go now (relay once the fallback is due).
  std::optional<Path> retryPath(const PeerState& peer, Instant now) const;

  // engine_status.cpp
  EngineStatus status(Instant now) const;

  // engine_handshake.cpp
  void onHandshake(Instant now, const Path& from, std::span<const std::uint8_t> datagram);
  // A responder asks one of our HELLOs to echo a cookie (a peer's or a rendezvous' handshake).
  void onCookieReply(Instant now, const Path& from, std::span<const std::uint8_t> datagram);
  // Starts a handshake with `peer` toward `to`; remote_index is the peer's index if known.
  Handshake::Params attemptParams(const PeerState& peer, const Path& to,
                                 std::uint32_t remote_index, Admission admit, std::size_t credit);
  // `credit`: the size of a packet that asked for it and is not fed to it (a KICK).
  Handshake* initiate(PeerState& peer, Instant now, const Path& to, std::uint32_t remote_index,
                      Admission admit = Admission::kOurs, std::size_t credit = 0);
  // initiate() without the first flush.
  Handshake* createPending(PeerState& peer, Instant now, const Path& to,
                           std::uint32_t remote_index, Admission admit, std::size_t credit);
  // A ClientHello (no receiver index) for a known peer; `vouched`: passed on by the rendezvous
  // (HELLO_FROM), `from` is the client's public candidate.
  void onClientHello(PeerState& peer, Instant now, const Path& from,
                     const protocol::HandshakePacket& p, bool vouched = false);
  void onKick(PeerState& peer, Instant now, const Path& from, const protocol::HandshakePacket& p);
  // A packet for the rival attempt (matched by our index).
  void startRival(PeerState& peer, Instant now, const Path& from, std::uint32_t remote_index,
                  Admission admit, const protocol::HandshakePacket& cause);
  void serveRival(PeerState& peer, Instant now);
  void dropRival(PeerState& peer);
  // True if the peer has shown it receives at `from`: TCP (connected), a relay channel of a
  // rendezvous session, its session's or last authenticated path, a punched candidate.
  bool provenPath(const PeerState& peer, const Path& from) const;
  // True while punching if we have probed `from` (a UDP candidate): a peer's packet from there
  // is expected, though not yet proof that it receives there.
  bool probedCandidate(const PeerState& peer, const Path& from) const;
  void sendCookieReply(Instant now, const Path& to, std::uint32_t sender_index);
  void servePending(PeerState& peer, Instant now);
  void completeHandshake(PeerState& peer, Instant now);
  void onLingerPacket(PeerState& peer, Instant now, const protocol::HandshakePacket& p);
  void failHandshake(PeerState& peer, Instant now, const std::string& reason);
  void dropPending(PeerState& peer);
  std::size_t pendingCount() const;
  bool allowHandshake(Instant now, const Path& from);

  // engine_data.cpp
  void onData(Instant now, const Path& from, std::span<std::uint8_t> datagram);
  std::optional<session::SealTicket> planOpen(const Path& from,
                                              std::span<const std::uint8_t> datagram) const;
  void onTun(Instant now, std::span<std::uint8_t> frame, std::size_t len);
  // An inner packet in frame (after kDataHeaderSize) to a peer with a session: the path's MTU
  // (a too-big answer), the MSS clamp, then sealed and sent.
  void sendInner(PeerState& peer, Instant now, std::span<std::uint8_t> frame, std::size_t len);
  // A data packet from the TUN device on a plain UDP path, handed to the sink to seal with others
  // (EngineSink::sendSealLater). False: seal it here.
  bool sealLater(PeerState& peer, Instant now, std::span<std::uint8_t> packet, std::size_t len,
                 bool expects_answer);
  // Seals in place and sends on the session's path (and the second path while dual-sending),
  // or only on `only` if given.
  // Data and liveness requests expect an answer (a direct path that brings none is probed, then
  // demoted); empty keepalives and liveness replies do not.
  bool sealAndSend(PeerState& peer, Instant now, std::span<std::uint8_t> frame, std::size_t len,
                   bool keepalive, const Path* only = nullptr, bool expects_answer = true);
  void sendKeepalive(PeerState& peer, Instant now, std::uint8_t kind, std::uint64_t token,
                     const Path* only = nullptr);
  // A liveness request on `path` (nullptr: the session's paths); the reply comes back on it.
  void probePath(PeerState& peer, Instant now, const Path* path);
  // A liveness request with its own token on a path the session may move to; its sealed reply
  // (onPathValidated) moves the session there with `reason`.
  void validatePath(PeerState& peer, Instant now, const Path& path, std::string reason);
  void flushQueue(PeerState& peer, Instant now);
  // Inner packets to an overlay address no certificate has given us yet, held while a peer is
  // being connected: its handshake may show the address is its own (engine_data.cpp).
  bool holdUnrouted(Instant now, std::span<const std::uint8_t> inner,
                    const protocol::IpAddress& destination);
  void flushUnrouted(Instant now);
  void openEarly(PeerState& peer, Instant now);
  void serviceSession(PeerState& peer, Instant now);
  void installRoutes(PeerState& peer, std::vector<protocol::IpPrefix> addresses);

  // engine_pmtu.cpp: path MTU discovery (pmtu_search.hpp) and what to do with larger packets.
  // A new active path starts a new search; TCP paths have none (the transport sizes for us).
  void syncPmtu(PeerSession& s, Instant now);
  std::size_t pathMtu(PeerSession& s, Instant now) {
    if (!s.pmtu_path || !(*s.pmtu_path == s.path)) {
      syncPmtu(s, now);
    }
    return s.pmtu.mtu();
  }
  void servicePmtu(PeerState& peer, Instant now);
  // A keepalive whose plaintext is a path MTU probe or ack: answered or fed to the search. False
  // if it is neither.
  bool onPmtuKeepalive(PeerState& peer, Instant now, std::span<const std::uint8_t> plain);
  // An inner packet in frame (len bytes) larger than the path's MTU: refused with ICMP on the
  // TUN device, or sent with the outer datagram fragmentable (protocol/inner_mtu.hpp).
  void onTooBig(PeerState& peer, Instant now, std::span<std::uint8_t> frame, std::size_t len,
                std::size_t mtu);

  // engine_paths.cpp
  // One peer-to-peer datagram on a path: UDP, TCP, or wrapped in a relay header to a rendezvous.
  void sendOnPath(const Path& path, std::span<const std::uint8_t> bytes);
  // `bytes` as they go on `path`: behind a relay header (in relay_scratch) on a relayed path;
  // empty (counted) if they do not fit.
  std::span<const std::uint8_t> onPathForm(const Path& path, std::span<const std::uint8_t> bytes);
  // Sends a sealed packet on the session's path and, while dual-sending, on the second one.
  void sendToPeer(PeerState& peer, Instant now, std::span<const std::uint8_t> packet,
                  bool expects_answer);
  // The second path we also send on now, if any (rules 6 and 7, and a silent direct path).
  const Path* secondaryPath(const PeerState& peer, Instant now) const;
  void noteTx(PeerState& peer, const Path& path, Instant now);
  // An authenticated packet from the peer arrived on `from` (newest: the highest counter yet).
  void onAuthenticated(PeerState& peer, Instant now, const Path& from, bool newest);
  void moveSession(PeerState& peer, Instant now, const Path& to, std::string reason);
  // A sealed reply to our liveness request arrived on `path`: the session moves there if that
  // path was waiting for validation.
  void onPathValidated(PeerState& peer, Instant now, const Path& path);
  void recordEvent(PeerState& peer, Instant now, const std::string& from, const std::string& to,
                   const std::string& reason);
  bool isHeld(const PeerState& peer, const Path& path, Instant now) const;
  void holdDown(PeerState& peer, const Path& path, Instant now);
  void servicePaths(PeerState& peer, Instant now);
  void scheduleDirectRetry(PeerState& peer, Instant now, bool reset);
  // Our address may have changed under us (a silent direct path): a liveness request to the
  // relaying rendezvous makes it follow our endpoint before it relays for us (once a second).
  void pokeRelay(PeerState& peer, Instant now);
  void onNetworkChange(Instant now);
  // A session began (replacing one on path kind `before`, or "none"): its path and why.
  void onSessionPath(PeerState& peer, Instant now, const std::string& before);
  std::string relayReason(const PeerState& peer) const;
  // A relayed session's reason names both NAT types; they may be learned after it was written.
  void refreshRelayReason(PeerState& peer);
  std::string natSummary(const PeerState& peer) const;

  // engine_relay.cpp
  bool fallbackDue(const PeerState& peer, Instant now) const;
  void serviceRelay(PeerState& peer, Instant now);
  void serviceFallback(PeerState& peer, Instant now);
  RendezvousState* bestRelayServer(const protocol::Endpoint* avoid);
  RendezvousState* rendezvousById(const protocol::Endpoint& udp);
  const RendezvousState* rendezvousById(const protocol::Endpoint& udp) const;
  void onRelayBound(RendezvousState& rv, Instant now, const protocol::RelayBoundMsg& msg);
  void onRelayFailed(RendezvousState& rv, Instant now, const protocol::RelayFailedMsg& msg);
  // Recomputes relay_path from the binding; moves a relayed session onto it.
  void refreshRelayPath(PeerState& peer, Instant now, const std::string& why);
  // The server's session went away (or changed transport): its channels are gone.
  void onRelayServerLost(RendezvousState& rv, Instant now, const std::string& why);

  // engine_rendezvous.cpp
  void setRendezvous(Instant now, std::vector<RendezvousSpec> specs);
  void setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  void setTcpCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  void setNatType(Instant now, protocol::NatType type);
  void reRegisterAll(Instant now);
  void connectRendezvous(RendezvousState& rv, Instant now);
  void serveRendezvousPending(RendezvousState& rv, Instant now);
  void completeRendezvous(RendezvousState& rv, Instant now, std::unique_ptr<Handshake> hs,
                          Transport transport);
  void failRendezvous(RendezvousState& rv, Instant now, std::string reason);
  void dropRendezvousPending(RendezvousState& rv);
  void dropRendezvousSession(RendezvousState& rv, Instant now, const std::string& why);
  void switchRendezvousToTcp(RendezvousState& rv, Instant now, const std::string& why);
  // A handshake toward rv's server at `to`, as TLS client (engine_rendezvous_trials.cpp).
  std::unique_ptr<Handshake> newRendezvousHandshake(const RendezvousState& rv,
                                                    const protocol::Endpoint& to, Instant now);
  void serviceUdpTrial(RendezvousState& rv, Instant now);
  // Starts, serves and ends the race of the alternate family (RendezvousState::alt_race).
  void serviceAltRace(RendezvousState& rv, Instant now);
  void dropAltRace(RendezvousState& rv);
  RendezvousState* rendezvousByIndex(std::uint32_t index);
  RendezvousState* rendezvousAt(const Path& from);
  // A handshake packet for one of our rendezvous handshakes or sessions; false if none matches.
  bool onRendezvousHandshake(Instant now, const Path& from, const protocol::HandshakePacket& p);
  // A sealed packet (data, keepalive or control) for a rendezvous session; false if none matches.
  bool onRendezvousSealed(Instant now, const Path& from, const protocol::DataHeader& header,
                          std::span<std::uint8_t> datagram);
  void onControlPacket(Instant now, const Path& from, std::span<std::uint8_t> datagram);
  void onControlMessage(RendezvousState& rv, Instant now, const protocol::ControlMessage& msg);
  // Sealed in rv's session; to the server's path, or to `via` (ALSO_HERE to its other family).
  bool sendControl(RendezvousState& rv, Instant now, const protocol::ControlMessage& msg,
                   const Path* via = nullptr);
  void sendRendezvousKeepalive(RendezvousState& rv, Instant now, std::uint8_t kind,
                               std::uint64_t token);
  void sendToRendezvous(RendezvousState& rv, Instant now, std::span<const std::uint8_t> bytes,
                        bool expects_answer);
  void sendRegister(RendezvousState& rv, Instant now);
  void serviceRendezvous(RendezvousState& rv, Instant now);
  bool anyRegistered() const;
  bool anyToAsk() const;  // a rendezvous session is up (its REGISTER sent): lookups may go
  void sendLookup(Instant now, const protocol::LookupMsg& msg);
  // A TUN packet for an address nobody routes: ask the rendezvous who has it (rate-limited).
  void lookupAddress(Instant now, const protocol::IpAddress& address);

  // engine_punch.cpp
  bool needsIntroduction(const PeerState& peer, Instant now) const;
  void servicePeerLookup(PeerState& peer, Instant now);
  void onIntroduce(Instant now, const protocol::IntroduceMsg& msg);
  // One of the addresses we announce (our host addresses): never a candidate to probe or dial.
  bool isOwnAddress(const protocol::IpAddress& a) const;
  void onLookupFailed(Instant now, const protocol::LookupFailedMsg& msg);
  void onPunch(Instant now, const Path& from, std::span<const std::uint8_t> datagram);
  void onProbeReply(PeerState& peer, Instant now, const Path& from);

  // engine_early_hello.cpp: our ClientHello before any path works, and the peer's through the
  // rendezvous.
  // As TLS client with nothing under way (or an attempt started with the lookup): a ClientHello
  // with the first probes, to the peer's best public candidate (set-up time: half a round trip
  // before a probe could answer).
  void startEarlyHello(PeerState& peer, Instant now);
  // A later introduction in the same punch: an early ClientHello that has heard nothing goes to
  // its public candidate.
  void reaimEarlyHello(PeerState& peer, Instant now,
                       const std::vector<protocol::Candidate>& introduced);
  // The first mapped or reflexive candidate of an introduction that we accepted (probe).
  std::optional<Path> introducedPublicPath(const PeerState& peer,
                                           const std::vector<protocol::Candidate>& introduced) const;
  // The first UDP candidate of the peer that is public (static, mapped or reflexive), or null.
  const PunchCandidate* firstPublicCandidate(const PeerState& peer) const;
  static constexpr Duration kViaPokeGrace = milliseconds(10);
  // Before a LOOKUP: as TLS client with nothing under way, start the attempt unaimed and send
  // its first packet to the rendezvous (HELLO_VIA); while it stays unaimed, send it again.
  void prepareHelloVia(PeerState& peer, Instant now);
  void onHelloFrom(Instant now, const protocol::HelloFromMsg& msg);
  // The pending attempt sends to `to` from now on.
  void aimPending(PeerState& peer, const Path& to);
  // A packet of the vouched attempt arrived directly from `from`, or a punched path to `from`
  // works: the attempt moves there (once), and resends what the peer has not acknowledged.
  void followVouched(PeerState& peer, Instant now, const Path& from);

  // engine_punch.cpp, continued.
  void servicePunch(PeerState& peer, Instant now);
  void endPunch(PeerState& peer, Instant now);
  void sendProbe(const Introduction& intro, bool reply, std::uint32_t seq, const Path& to);
  // A probe of ours to a candidate: sent and remembered for matching its reply.
  void probeCandidate(PeerState& peer, const Introduction& intro, PunchCandidate& c);
  // Marks the probe `seq` sent to `from` answered; false if we sent no such probe there, or it was
  // answered already.
  bool takeProbeReply(PeerState& peer, std::uint32_t seq, const Path& from);
  PunchCandidate* addCandidate(PeerState& peer, const protocol::Endpoint& ep,
                               PunchCandidate::Kind kind);
  void stopPunch(PeerState& peer);
  // Port prediction (engine_predict.cpp): chooses the role at a fresh introduction, sends its
  // probes on the punch's timer, accepts replies to sprayed probes, and closes prediction
  // sockets no path of the peer uses.
  void startPrediction(PeerState& peer, Instant now, protocol::NatType peer_nat,
                       const std::optional<protocol::PortReading>& peer_reading);
  // Lockstep (two NATs that allocate in sequence): the ports to probe, from the peer's reading.
  static std::vector<std::uint16_t> lockstepPorts(const protocol::PortReading& peer_reading,
                                                  std::size_t count, bool shift);
  // engine_port_reading.cpp: our NAT's next port (port_reading_state.hpp). sequentialNat: port
  // prediction is on and our NAT is symmetric and allocates in sequence.
  bool sequentialNat() const;
  bool freshReading(Instant now) const;
  bool wantReading(Instant now) const;
  void setPortStride(Instant now, std::uint8_t stride);
  void requestPortReading(Instant now);
  void servicePortReading(Instant now);
  // A STUN answer on the reading's socket: true if it was the one we wait for.
  bool onStunAnswer(Instant now, const Path& from, std::span<const std::uint8_t> bytes);
  void finishPortReading(Instant now);
  void servicePrediction(PeerState& peer, const Introduction& intro, Instant now);
  bool takePredictionReply(PeerState& peer, std::uint32_t seq, const Path& from);
  // A probe on prediction socket from.local: the first one hit is kept (the others are closed),
  // so the peer sees us at one endpoint; probes on any other are refused (false).
  bool acceptPredictedPath(PeerState& peer, const Path& from);
  std::vector<std::uint16_t> usedLocals(const PeerState& peer) const;  // by any path of the peer
  void releasePredictionSockets(PeerState& peer, bool all_unused);
  bool punching(const PeerState& peer) const;
  // On direct UDP over IPv4 while an IPv6 UDP candidate has not failed: punching goes on for it
  // alone, and its answer moves the session (RFC 8421 prefers IPv6).
  bool wantsIpv6(const PeerState& peer) const;
  // We open direct TCP to the peer's tcp candidates (it has some; if we have some too, the TLS
  // client connects, so one connection serves the pair).
  bool weConnectTcp(const PeerState& peer) const;
  // After a handshake toward a known endpoint failed: fall back to the rendezvous.
  void onDirectFailure(PeerState& peer, Instant now);
  void noteAttempt(PeerState& peer, Instant now);

  crypto::TlsContext& tls;
  EngineOptions options;
  EngineSink& sink;
  std::vector<std::unique_ptr<PeerState>> peers;
  std::unordered_map<std::uint32_t, PeerState*> by_index;  // our local index -> peer
  std::unordered_map<protocol::IpAddress, PeerState*, protocol::IpAddressHash> routes;
  TxQueue unrouted;          // see holdUnrouted()
  Instant unrouted_since{};  // when its oldest packet came
  DropCounters drops;
  // New handshakes a peer answers: per address, per IPv6 /64 and in total (a hub may see many
  // peers at once after a restart; one handshake costs about a millisecond of CPU).
  session::AdmissionLimiter admission{
      session::AdmissionLimiter::Options{8, 2, 32, 8, 200, 100, 1024}};
  session::CookieMaker cookies;
  std::uint64_t cookie_replies = 0;
  std::uint64_t candidates_rejected = 0;  // introduced candidates we would not probe (hygiene)
  // Relayed handshakes all come from a rendezvous address: a separate, roomier bucket.
  RateLimiter relay_limiter{RateLimiter::Options{64, 16, 64}};
  std::uint64_t next_probe_token = 1;
  std::vector<std::unique_ptr<RendezvousState>> rendezvous;
  std::unordered_map<std::uint32_t, RendezvousState*> rv_by_index;  // our local index -> server
  std::vector<protocol::Endpoint> local_candidates;
  std::vector<protocol::Endpoint> tcp_candidates;
  std::optional<protocol::Endpoint> mapped_candidate;  // our router's port mapping
  protocol::NatType nat_type = protocol::NatType::kUnknown;
  std::uint8_t port_stride = 0;  // NAT discovery: our NAT's step between new mappings, 0: none
  PortReadingState port_reading;
  std::uint32_t next_lookup_id = 1;
  // Lookups we sent lately: an INTRODUCE naming a request id must answer one of them.
  struct SentLookup {
    std::uint32_t id = 0;
    Instant at{};
  };
  std::array<SentLookup, 16> sent_lookups{};
  std::size_t next_sent_lookup = 0;
  std::uint64_t introductions_rejected = 0;
  std::uint64_t hellos_via_sent = 0;       // HELLO_VIA messages (one per lookup that carried one)
  std::uint64_t hellos_from_received = 0;  // HELLO_FROM messages answered
  std::uint32_t next_relay_request = 1;
  // Address lookups recently sent (rate limit): fixed slots, no allocation per TUN packet.
  struct AddressLookup {
    protocol::IpAddress address;
    Instant at{};
  };
  std::array<AddressLookup, 8> address_lookups{};
  std::size_t next_address_lookup = 0;
  Instant last_address_lookup{};
  // Room to seal a queued packet or a keepalive: header + slot + tag.
  std::array<std::uint8_t, protocol::kDataOverhead + TxQueue::kSlotSize> scratch{};
  // Room to put a relay header in front of any datagram (allocated once).
  std::vector<std::uint8_t> relay_scratch;
  bool sealing_tun = false;  // inside Engine::onTunPacket
  bool send_fragmentable = false;  // the packet being sent may be fragmented (onTooBig)
  // Room for a path MTU probe (header, the largest inner size, tag) and for an ICMP "too big".
  std::vector<std::uint8_t> probe_scratch;
  std::array<std::uint8_t, protocol::kIpv6MinMtu> icmp_scratch{};
  // Inside Engine::onDatagramOpened: the datagram's AEAD result, for the session's open.
  const session::PreOpened* pre_opened = nullptr;
  // The network key's seal (null without one), room for one sealed packet, and which of the
  // network-key problems (OuterProblem) have been logged: each is reported once.
  std::unique_ptr<session::OuterSeal> outer;
  std::array<std::uint8_t, protocol::kMaxSealedPacket> seal_scratch{};
  std::array<bool, 3> outer_reported{};
};

}  // namespace vpn::client
