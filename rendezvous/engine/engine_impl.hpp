#pragma once
// RendezvousEngine internals shared by rendezvous_engine.cpp (dispatch, timers, status),
// rv_handshake.cpp (TLS server handshakes -> records), rv_control.cpp (sealed control messages,
// keepalives), rv_relay.cpp (relay channels and forwarding) and rv_stun.cpp (the STUN reflector).
// Not part of the public interface.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "crypto/aead.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "protocol/sealed_packet.hpp"
#include "rendezvous/engine/registry.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "session/datagram_sink.hpp"
#include "session/handshake.hpp"
#include "session/admission.hpp"
#include "session/cookie.hpp"
#include "session/outer_seal.hpp"

namespace vpn::rendezvous {

enum class Drop : std::uint8_t {
  kMalformed,          // unparseable datagram or message
  kUnknownFamily,      // first byte names no family we serve here (punch, unknown, or a session
                       // packet on a STUN-only socket)
  kUnknownIndex,       // no session or handshake with that receiver index
  kNotEstablished,     // sealed packet for a handshake our side has not finished yet
  kAuthFailed,
  kReplay,
  kRateLimited,        // new handshakes from one address
  kRateLimitedNetwork, // new handshakes from one IPv6 /64
  kHandshakeRateGlobal,  // new handshakes from everyone, over the global rate
  kUnpadded,           // a first handshake packet shorter than kMinInitialPacket
  kBadCookie,          // a HELLO echoing a cookie we did not make for it (answered anew)
  kPendingFull,        // too many handshakes in progress
  kHandshakeFailed,
  kNotPeerRole,        // a rendezvous-role certificate tried to register
  kUnexpectedMessage,  // a server-to-peer message sent to us, a kick, ...
  kDataNotRelayed,     // data sealed to us: peers relay in relay packets (0x78), not this way
  kLookupRateLimited,
  kStun,               // STUN we don't answer (not a Binding request, or no reflector yet)
  kStunRateLimited,    // STUN from one address beyond its rate
  kStunAmplification,  // a STUN answer larger than its request, beyond the excess allowance
  kTxTooBig,
  kRelayUnknownSender,   // relay packet from no session's current path
  kRelayUnknownChannel,  // the channel is not one of the sender's
  kRelayDisabled,
  kRelayRateLimited,     // the sender's relay byte bucket is empty
  kRelayRateLimitedReceiver,  // the receiving peer's relay byte bucket is empty
  kRelayRateLimitedGlobal,    // the server's relay byte bucket for everyone is empty
  kRelayNoConsent,       // a channel only one side asked for
  kRelayQuota,           // the sender's session used up relay_max_bytes
  kRelayBadInner,        // inner datagram not a handshake, data or keepalive packet
  kRelayNameMismatch,    // a relayed HELLO naming someone other than the sender's certificate
  kRelayRequestRateLimited,
  kPeerUnreachable,      // a packet for a peer whose TCP connection closed
  kNetworkKeyMismatch,   // a sealed packet that does not open with our network key
  kNetworkKeyMissing,    // a plain handshake packet or STUN request while we require the key
  kNetworkKeyUnexpected, // a sealed packet while we have no network key
  kCount,
};

std::string_view toString(Drop d);

// Adapts the session machinery's single-socket sink to "send from this socket".
class SocketSink final : public session::DatagramSink {
 public:
  SocketSink(RendezvousSink& out, SocketId id) : out_(out), id_(id) {}
  void sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override {
    out_.sendFrom(id_, to, bytes);
  }

 private:
  RendezvousSink& out_;
  SocketId id_;
};

// With a network key, seals every handshake packet, cookie reply and STUN answer on its way out
// (everything the engine sends goes through it); without one, passes everything through.
class SealingSink final : public RendezvousSink {
 public:
  SealingSink(RendezvousSink& out, session::OuterSeal* seal) : out_(out), seal_(seal) {}
  void sendFrom(SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override {
    if (seal_ != nullptr && protocol::sealable(bytes)) {
      std::size_t n = seal_->seal(bytes, scratch_);
      if (n == 0) {
        return;  // larger than anything we seal: cannot happen for our own messages
      }
      bytes = std::span<const std::uint8_t>(scratch_.data(), n);
    }
    out_.sendFrom(from, to, bytes);
  }

 private:
  RendezvousSink& out_;
  session::OuterSeal* seal_;
  std::array<std::uint8_t, protocol::kMaxSealedPacket> scratch_{};
};

struct PendingHandshake {
  std::unique_ptr<session::Handshake> hs;
  SocketId socket;
  std::string hello_key;  // name + client index: matches retransmitted ClientHellos
};

struct RendezvousEngine::Impl {
  static constexpr Duration kSweepInterval = seconds(1);
  static constexpr Duration kRelaySweepInterval = seconds(10);
  static constexpr std::uint32_t kExpiryRefreshes = 3;
  static constexpr Duration kStallTimeout = seconds(1);

  Impl(crypto::TlsContext& tls, RendezvousOptions options, RendezvousSink& sink);

  // rendezvous_engine.cpp
  void onDatagram(Instant now, SocketId on, const protocol::Endpoint& from,
                  std::span<std::uint8_t> bytes);
  void onTimer(Instant now);
  Instant nextDeadline() const;
  RendezvousStatus status(Instant now, bool with_peers) const;
  void drop(Drop d) { drops[static_cast<std::size_t>(d)]++; }
  // The certificate's not_after on our clock (kNever if centuries away).
  Instant certificateExpiry(const crypto::CertIdentity& id, Instant now) const;
  std::size_t closeBlocked(Instant now);
  std::uint32_t newIndex();
  void sweep(Instant now);

  // rv_handshake.cpp
  void onHandshake(Instant now, SocketId on, const protocol::Endpoint& from,
                   std::span<const std::uint8_t> bytes);
  void servePending(Instant now, std::uint32_t index);
  void erasePending(std::uint32_t index);
  void completeHandshake(Instant now, std::uint32_t index);
  void onLingerPacket(Instant now, PeerRecord& r, const protocol::HandshakePacket& p);
  // A ClientHello that matches no handshake in progress: cookie, limits, then a new handshake.
  void admitHello(Instant now, SocketId on, const protocol::Endpoint& from,
                  const protocol::HandshakePacket& p, std::string key);
  void sendCookieReply(Instant now, SocketId on, const protocol::Endpoint& to,
                       std::uint32_t sender_index);
  // Frees one pending slot held by a handshake that has sent nothing for kStallTimeout.
  bool evictStalled(Instant now);
  bool underLoad() const;

  // rv_control.cpp
  void onSealed(Instant now, SocketId on, const protocol::Endpoint& from,
                std::span<std::uint8_t> bytes);
  void onControl(Instant now, PeerRecord& r, std::span<const std::uint8_t> plain);
  void onRegister(Instant now, PeerRecord& r, const protocol::RegisterMsg& m);
  void onLookup(Instant now, PeerRecord& r, const protocol::LookupMsg& m);
  void introduce(Instant now, PeerRecord& requester, PeerRecord& target, std::uint32_t request_id);
  std::optional<protocol::PortReading> freshReading(const PeerRecord& r, Instant now) const;
  void lookupFailed(PeerRecord& r, std::uint32_t request_id, protocol::LookupFailure reason,
                    std::string name);
  bool sendControl(PeerRecord& r, const protocol::ControlMessage& msg);
  // Seals msg in r's session and sends it from `on` to `to` (not r's path): SEEN_HERE.
  bool sendControlTo(PeerRecord& r, SocketId on, const protocol::Endpoint& to,
                     const protocol::ControlMessage& msg);
  // An ALSO_HERE that arrived from `from` on `on` (rv_control.cpp).
  void onAlsoHere(Instant now, PeerRecord& r, SocketId on, const protocol::Endpoint& from,
                  std::span<const std::uint8_t> plain);
  void sendKeepalive(PeerRecord& r, std::span<const std::uint8_t> payload);

  // rv_hello.cpp: a peer's first handshake packet for another, kept briefly (HELLO_VIA) and
  // passed on when the two are introduced (HELLO_FROM).
  static constexpr Duration kHelloFresh = seconds(2);
  void onHelloVia(Instant now, PeerRecord& r, protocol::HelloViaMsg& m);
  // Sends `from`'s fresh hello for `to` to `to`, if it has one.
  void passHello(Instant now, PeerRecord& from, PeerRecord& to, std::uint64_t intro_id);

  // rv_outer.cpp: the network key (docs/hardening.md, "Network key").
  enum class OuterProblem { kMismatch, kMissing, kUnexpected };
  void onOuterSealed(Instant now, SocketId on, const protocol::Endpoint& from,
                     std::span<std::uint8_t> bytes);
  // True (counted, reported once) if a plain handshake packet or STUN request must be dropped.
  bool refuseUnsealed(const protocol::Endpoint& from);
  void reportOuter(OuterProblem problem, const protocol::Endpoint& from);
  // The inner datagram of a relayed sealed packet, opened in relay_open (a copy: the relay
  // forwards the original); empty if it does not open.
  std::span<const std::uint8_t> openRelayed(std::span<const std::uint8_t> sealed);
  // Sends to the record's current path; false (counted) if its TCP connection closed.
  bool sendTo(PeerRecord& r, std::span<const std::uint8_t> bytes);

  // rv_relay.cpp
  void onRelay(Instant now, SocketId on, const protocol::Endpoint& from,
               std::span<const std::uint8_t> bytes);
  void onRelayRequest(Instant now, PeerRecord& r, const protocol::RelayRequestMsg& m);
  // Why a relay packet's inner datagram may not pass (nullopt: it may): not a handshake, data
  // or keepalive packet; a handshake not sealed as the network key demands, or not opening with
  // it; a HELLO naming someone other than the sender.
  std::optional<Drop> checkRelayInner(std::span<const std::uint8_t> inner,
                                      const std::string& sender_name);
  void relayFailed(PeerRecord& r, std::uint32_t request_id, protocol::RelayFailure reason,
                   const std::string& peer_name);
  // A free channel number for a new pair, or 0 after bounded retries.
  std::uint16_t newChannel(const PeerRecord& a, const PeerRecord& b);
  void onConnectionClosed(Instant now, std::uint32_t conn);
  void sweepRelay(Instant now);

  // rv_stun.cpp
  void onStun(Instant now, SocketId on, const protocol::Endpoint& from,
              std::span<const std::uint8_t> bytes);
  bool allowStunReply(Instant now, const protocol::Endpoint& from, std::size_t request,
                      std::size_t reply);

  crypto::TlsContext& tls;
  RendezvousOptions options;
  std::unique_ptr<session::OuterSeal> outer;  // null without a network key
  SealingSink sink;  // every send goes through it
  std::array<bool, 3> outer_reported{};
  std::array<std::uint8_t, protocol::kMaxSealedPacket> relay_open{};
  std::string own_name;
  // Seals and opens for every record's CompactDataKeys; declared before the registry so it
  // outlives the records.
  crypto::AeadScratch aead;
  Registry registry;
  std::unordered_map<std::uint32_t, PendingHandshake> pending;
  std::unordered_map<std::string, std::uint32_t> pending_by_hello;
  session::AdmissionLimiter admission;
  session::CookieMaker cookies;
  session::RateLimiter stun_by_address;
  session::RateLimiter stun_excess_by_address;
  TokenBucket stun_excess_bytes;
  TokenBucket cookieless;  // handshakes started without a cookie (RendezvousOptions)
  TokenBucket relay_global;
  Instant next_relay_sweep{};
  Instant next_sweep = kNever;
  // After a reload shortened the refresh: the one peers were told before, until they all heard
  // the new one (setLimits).
  Duration told_refresh{};
  Instant told_refresh_until{};
  RendezvousCounters counters;
  std::array<std::uint64_t, static_cast<std::size_t>(Drop::kCount)> drops{};
  std::array<std::uint8_t, protocol::kDataOverhead + protocol::kMaxControlPayload> scratch{};
};

}  // namespace vpn::rendezvous
