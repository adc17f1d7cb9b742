#pragma once
// Engine internals shared by engine.cpp (lifecycle, timers, status), engine_handshake.cpp
// (matching handshake packets, roles, session install), engine_data.cpp (data path, keepalives,
// key updates), engine_rendezvous.cpp (rendezvous sessions, registration, control messages) and
// engine_punch.cpp (introductions and hole punching). Not part of the public interface.
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
#include "session/handshake.hpp"
#include "client/engine/peer_session.hpp"
#include "session/rate_limiter.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/punch_packet.hpp"
#include "protocol/rendezvous_messages.hpp"

namespace vpn::client {


// Packets waiting for a session (inner packets to send, or datagrams that arrived for a handshake
// still finishing on our side): fixed slots, allocated once on first use.
class TxQueue {
 public:
  static constexpr std::size_t kSlots = 16;
  static constexpr std::size_t kSlotSize = 2048;

  bool push(std::span<const std::uint8_t> packet, const protocol::Endpoint& from = {});
  // Calls fn(span, from) for each queued packet in order, then empties the queue.
  template <typename Fn>
  void drain(Fn&& fn) {
    std::size_t n = count_;
    std::size_t head = head_;
    head_ = 0;
    count_ = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t slot = (head + i) % kSlots;
      fn(std::span<std::uint8_t>(storage_.data() + slot * kSlotSize, lens_[slot]), froms_[slot]);
    }
  }
  std::size_t size() const { return count_; }
  void clear() { head_ = count_ = 0; }

 private:
  std::vector<std::uint8_t> storage_;
  std::array<std::size_t, kSlots> lens_{};
  std::array<protocol::Endpoint, kSlots> froms_{};
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// One place a peer may be reached, and what hole punching learned about it.
struct PunchCandidate {
  enum class Kind : std::uint8_t { kLocal, kReflexive, kPeerReflexive, kStatic };
  enum class State : std::uint8_t { kUntried, kProbing, kSucceeded, kFailed };
  protocol::Endpoint endpoint;
  Kind kind = Kind::kLocal;
  State state = State::kUntried;
  std::uint64_t probes_sent = 0;
  std::uint64_t replies = 0;
};

// An introduction by a rendezvous: the id and key that authenticate punch probes with one peer.
struct Introduction {
  std::uint64_t id = 0;
  std::array<std::uint8_t, 32> key{};
  Instant expires{};
};

struct PeerState {
  std::string name;
  std::optional<protocol::Endpoint> configured_endpoint;
  std::optional<protocol::Endpoint> last_endpoint;  // last authenticated one
  bool we_are_client = false;
  std::unique_ptr<PeerSession> session;
  std::unique_ptr<Handshake> pending;
  Instant retry_at = kNever;
  Duration retry_backoff = seconds(1);
  std::vector<protocol::IpPrefix> addresses;  // from the peer's certificate
  std::string cipher;
  std::string last_error;
  std::uint64_t tx_bytes = 0, rx_bytes = 0, tx_packets = 0, rx_packets = 0;
  std::optional<Instant> last_handshake;
  std::uint64_t handshakes = 0;
  std::uint64_t key_updates_done = 0;  // from sessions already replaced
  TxQueue queue;
  // Data that reached our pending handshake's index before our side finished (the client
  // completes first and may send at once); opened once the session exists.
  TxQueue early;

  // Introduction and hole punching (engine_punch.cpp).
  static constexpr std::size_t kMaxIntros = 4;
  static constexpr std::size_t kMaxPunchCandidates = 16;
  std::vector<PunchCandidate> candidates;  // best first
  std::vector<Introduction> intros;        // newest last; probes carry the newest
  Instant punch_until = kNever;            // probing while now < punch_until
  Instant punch_started{};
  Instant next_punch_at = kNever;
  std::uint32_t punch_seq = 0;
  bool punch_connected = false;            // a handshake was started on a working candidate
  bool unreachable = false;                // the last punch found no path
  bool direct_failed = false;              // a handshake toward a known endpoint failed
  Instant lookup_at = kNever;              // next LOOKUP by name
  Duration lookup_backoff = seconds(2);
  Duration unreachable_backoff{};          // grows after each failed punch
  std::uint32_t lookup_id = 0;

  std::optional<protocol::Endpoint> bestEndpoint() const {
    return last_endpoint ? last_endpoint : configured_endpoint;
  }
  bool hasSourceAddress(const protocol::IpAddress& a) const {
    for (const auto& p : addresses) {
      if (p.address() == a) {
        return true;
      }
    }
    return false;
  }
};

// Our session with one rendezvous server (engine_rendezvous.cpp). We are always its TLS client.
struct RendezvousState {
  protocol::Endpoint endpoint;
  std::unique_ptr<Handshake> pending;
  std::unique_ptr<PeerSession> session;
  bool registered = false;
  std::optional<protocol::Endpoint> reflexive;
  Duration refresh{};
  Instant next_register_at = kNever;
  Instant retry_at = kNever;
  Duration retry_backoff = seconds(1);
  std::string last_error;
};

struct Engine::Impl {
  static constexpr std::size_t kMaxPendingHandshakes = 64;
  static constexpr Duration kMaxRetryBackoff = seconds(30);

  Impl(crypto::TlsContext& tls, EngineOptions options, EngineSink& sink);

  // engine.cpp
  void start(Instant now);
  void onDatagram(Instant now, const protocol::Endpoint& from, std::span<std::uint8_t> datagram);
  void onTimer(Instant now);
  Instant nextDeadline() const;
  EngineStatus status(Instant now) const;
  PeerState* findPeer(std::string_view name);
  std::uint32_t newIndex();
  SessionTiming timing() const {
    return {options.keepalive_interval, options.rekey_interval, options.rekey_after_packets,
            options.handshake_timeout};
  }
  void scheduleRetry(PeerState& peer, Instant now);
  void dropSession(PeerState& peer, Instant now, std::string reason);

  // engine_handshake.cpp
  void onHandshake(Instant now, const protocol::Endpoint& from,
                   std::span<const std::uint8_t> datagram);
  // Starts a handshake with `peer` toward `to`; remote_index is the peer's index if known.
  Handshake* initiate(PeerState& peer, Instant now, const protocol::Endpoint& to,
                      std::uint32_t remote_index);
  void servePending(PeerState& peer, Instant now);
  void completeHandshake(PeerState& peer, Instant now);
  void onLingerPacket(PeerState& peer, Instant now, const protocol::HandshakePacket& p);
  void failHandshake(PeerState& peer, Instant now, const std::string& reason);
  void dropPending(PeerState& peer);
  std::size_t pendingCount() const;

  // engine_data.cpp
  void onData(Instant now, const protocol::Endpoint& from, std::span<std::uint8_t> datagram);
  void onTun(Instant now, std::span<std::uint8_t> frame, std::size_t len);
  bool sealAndSend(PeerState& peer, Instant now, std::span<std::uint8_t> frame, std::size_t len,
                   bool keepalive);
  void sendKeepalive(PeerState& peer, Instant now, std::uint8_t kind, std::uint64_t token);
  void flushQueue(PeerState& peer, Instant now);
  void openEarly(PeerState& peer, Instant now);
  void serviceSession(PeerState& peer, Instant now);
  void installRoutes(PeerState& peer, std::vector<protocol::IpPrefix> addresses);

  // engine_rendezvous.cpp
  void setRendezvous(Instant now, std::vector<protocol::Endpoint> endpoints);
  void setLocalCandidates(Instant now, std::vector<protocol::Endpoint> candidates);
  void connectRendezvous(RendezvousState& rv, Instant now);
  void serveRendezvousPending(RendezvousState& rv, Instant now);
  void completeRendezvous(RendezvousState& rv, Instant now);
  void failRendezvous(RendezvousState& rv, Instant now, std::string reason);
  void dropRendezvousPending(RendezvousState& rv);
  void dropRendezvousSession(RendezvousState& rv);
  RendezvousState* rendezvousByIndex(std::uint32_t index);
  // A handshake packet for one of our rendezvous handshakes or sessions; false if none matches.
  bool onRendezvousHandshake(Instant now, const protocol::Endpoint& from,
                             const protocol::HandshakePacket& p);
  // A sealed packet (data, keepalive or control) for a rendezvous session; false if none matches.
  bool onRendezvousSealed(Instant now, const protocol::Endpoint& from,
                          const protocol::DataHeader& header, std::span<std::uint8_t> datagram);
  void onControlPacket(Instant now, const protocol::Endpoint& from,
                       std::span<std::uint8_t> datagram);
  void onControlMessage(RendezvousState& rv, Instant now, const protocol::ControlMessage& msg);
  bool sendControl(RendezvousState& rv, Instant now, const protocol::ControlMessage& msg);
  void sendRendezvousKeepalive(RendezvousState& rv, Instant now, std::uint8_t kind,
                               std::uint64_t token);
  void sendRegister(RendezvousState& rv, Instant now);
  void serviceRendezvous(RendezvousState& rv, Instant now);
  bool anyRegistered() const;
  void sendLookup(Instant now, const protocol::LookupMsg& msg);
  // A TUN packet for an address nobody routes: ask the rendezvous who has it (rate-limited).
  void lookupAddress(Instant now, const protocol::IpAddress& address);

  // engine_punch.cpp
  bool needsIntroduction(const PeerState& peer, Instant now) const;
  void servicePeerLookup(PeerState& peer, Instant now);
  void onIntroduce(Instant now, const protocol::IntroduceMsg& msg);
  void onLookupFailed(Instant now, const protocol::LookupFailedMsg& msg);
  void onPunch(Instant now, const protocol::Endpoint& from, std::span<const std::uint8_t> datagram);
  void servicePunch(PeerState& peer, Instant now);
  void sendProbe(const Introduction& intro, bool reply, std::uint32_t seq,
                 const protocol::Endpoint& to);
  PunchCandidate* addCandidate(PeerState& peer, const protocol::Endpoint& ep,
                               PunchCandidate::Kind kind);
  void stopPunch(PeerState& peer);
  // After a handshake toward a known endpoint failed: fall back to the rendezvous.
  void onDirectFailure(PeerState& peer, Instant now);

  crypto::TlsContext& tls;
  EngineOptions options;
  EngineSink& sink;
  std::vector<std::unique_ptr<PeerState>> peers;
  std::unordered_map<std::uint32_t, PeerState*> by_index;  // our local index -> peer
  std::unordered_map<protocol::IpAddress, PeerState*, protocol::IpAddressHash> routes;
  DropCounters drops;
  RateLimiter limiter;
  std::uint64_t next_probe_token = 1;
  std::vector<std::unique_ptr<RendezvousState>> rendezvous;
  std::unordered_map<std::uint32_t, RendezvousState*> rv_by_index;  // our local index -> server
  std::vector<protocol::Endpoint> local_candidates;
  std::uint32_t next_lookup_id = 1;
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
};

}  // namespace vpn::client
