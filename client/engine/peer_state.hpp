#pragma once
// PeerState: everything the engine keeps about one configured peer (engine_impl.hpp's Impl owns
// them, one per peer, for the peer's configured lifetime): its session and handshakes, the paths
// it can be reached on, hole punching and port prediction, relay binding, lookups and the
// packets that wait for a session. Single-threaded like the engine; not part of the public
// interface.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "client/engine/engine.hpp"
#include "client/engine/path.hpp"
#include "client/engine/peer_session.hpp"
#include "protocol/inner_mtu.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "session/handshake.hpp"

namespace vpn::client {

// Packets waiting for a session (inner packets to send, or datagrams that arrived for a handshake
// still finishing on our side, with the path they came on): fixed slots, allocated once on first
// use.
class TxQueue {
 public:
  static constexpr std::size_t kSlots = 16;
  static constexpr std::size_t kSlotSize = 2048;

  bool push(std::span<const std::uint8_t> packet, const Path& from = {});
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
  std::array<Path, kSlots> froms_{};
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// One place a peer may be reached, and what hole punching learned about it. kTcp candidates are
// probed over a TCP connection (transport kTcp), the others over UDP.
struct PunchCandidate {
  enum class Kind : std::uint8_t { kLocal, kReflexive, kPeerReflexive, kStatic, kTcp, kMapped };
  enum class State : std::uint8_t { kUntried, kProbing, kSucceeded, kFailed };
  protocol::Endpoint endpoint;
  Kind kind = Kind::kLocal;
  State state = State::kUntried;
  std::uint64_t probes_sent = 0;
  std::uint64_t replies = 0;
  Transport transport() const { return kind == Kind::kTcp ? Transport::kTcp : Transport::kUdp; }
  Path path() const { return {transport(), endpoint, 0}; }
};

// An introduction by a rendezvous: the id and key that authenticate punch probes with one peer.
struct Introduction {
  std::uint64_t id = 0;
  std::array<std::uint8_t, 32> key{};
  Instant expires{};
  // Where it said the peer is in public (its first mapped or reflexive candidate we accepted):
  // a ClientHello passed on with it is answered there.
  std::optional<Path> public_path;
};

// Liveness of the direct path of a session (the one it is on, or was on before a demotion).
struct DirectLink {
  Path path;
  Instant last_rx{};                  // last authenticated packet (or probe reply) over it
  Instant unanswered_since = kNever;  // first send on it since last_rx; kNever: answered
  Instant next_probe_at = kNever;     // liveness probes while unanswered
  std::optional<Duration> srtt;
};

// A relay channel for one peer at one rendezvous (docs/paths.md rules 2, 3 and 9).
struct RelayBinding {
  enum class State : std::uint8_t { kNone, kRequested, kBound, kFailed };
  State state = State::kNone;
  protocol::Endpoint rv;        // the rendezvous' UDP address: its identity
  std::uint16_t channel = 0;    // when bound
  std::uint32_t request_id = 0;
  Instant next_at = kNever;     // next RELAY_REQUEST: a retry, or the refresh of a bound channel
  Duration backoff{};
  std::string failure;          // in words, after RELAY_FAILED
};

struct PeerState {
  std::string name;
  std::optional<protocol::Endpoint> configured_endpoint;
  std::optional<Path> last_path;  // last authenticated one
  bool we_are_client = false;
  std::unique_ptr<PeerSession> session;
  std::unique_ptr<Handshake> pending;
  Path pending_path;  // where the pending handshake sends
  // A second attempt an incoming packet asked for (a new ClientHello, or a KICK from elsewhere)
  // while `pending` runs. Nothing unauthenticated replaces or redirects `pending`; the first of
  // the two to finish becomes the session.
  std::unique_ptr<Handshake> rival;
  Path rival_path;
  // Make-before-break (engine_pki.cpp): the session a fresh handshake replaced, still opening
  // what the peer sealed before it switched, until previous_until.
  std::unique_ptr<PeerSession> previous;
  Instant previous_until = kNever;
  // When we (the TLS client) start the next fresh handshake on a live session, and whether the
  // pending one is such a handshake (its failure leaves the session alone).
  Instant rehandshake_at = kNever;
  bool rehandshaking = false;
  // When the peer's certificate expires, on our clock (the session ends then).
  Instant cert_expires_at = kNever;
  Instant retry_at = kNever;
  Duration retry_backoff = seconds(1);
  std::vector<protocol::IpPrefix> addresses;  // from the peer's certificate
  std::vector<std::string> groups;            // from the peer's certificate
  std::string cert_fingerprint;               // SHA-256 of the peer's certificate (blocklist)
  std::string cipher;
  std::string last_error;
  std::uint64_t tx_bytes = 0, rx_bytes = 0, tx_packets = 0, rx_packets = 0;
  std::optional<Instant> last_handshake;
  std::uint64_t handshakes = 0;
  std::uint64_t key_updates_done = 0;  // from sessions already replaced
  TxQueue queue;
  Instant queue_since{};  // when the oldest queued packet came
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
  Instant next_tcp_probe_at = kNever;
  std::uint32_t punch_seq = 0;
  // Port prediction for this punch (engine_predict.cpp). Opener: behind the symmetric NAT, the
  // sockets it probes the peer's reflexive endpoint from. Sprayer: behind the cone NAT, the
  // random ports of the peer's public address it probes, seqs first_seq.. in order.
  struct Prediction {
    // kLockstep: both NATs allocate in sequence; each side probes the ports the other's NAT
    // hands out next, from the tunnel socket, in the same order (ports as for the sprayer).
    enum class Role : std::uint8_t { kNone, kOpener, kSprayer, kLockstep };
    Role role = Role::kNone;
    protocol::Endpoint target;             // the peer's reflexive endpoint
    std::vector<std::uint16_t> locals;     // opener: sockets opened (closed when unused)
    std::vector<std::uint16_t> ports;      // sprayer: the ports, in the order probed
    std::vector<bool> answered;            // sprayer: per port
    std::uint32_t first_seq = 0;
    std::size_t sent = 0;
    Instant started{};
    Instant next_at = kNever;
    bool succeeded = false;                // a path through it answered
    std::uint16_t chosen = 0;              // opener: the socket hit first
    std::optional<protocol::Endpoint> hit; // sprayer: the port that answered first
  } predict;
  // The probes we sent lately (sequence and path): a reply counts only if it echoes one of them
  // and comes from where it went, and only once (a replayed reply is dropped). A ring, allocated
  // while punching and freed after: 256 covers 1.6 s of the fastest probing of 16 candidates.
  struct SentProbe {
    std::uint32_t seq = 0;
    bool answered = true;
    Path path;
  };
  static constexpr std::size_t kSentProbes = 256;
  std::vector<SentProbe> sent_probes;
  std::size_t next_sent_probe = 0;
  // A punched path a session may move to once a sealed reply arrives on it (RFC 9000 section 8
  // path validation), and how it was found.
  std::optional<Path> validating;
  std::string validating_reason;
  Instant validating_probe_at{};
  bool punch_connected = false;            // a handshake was started on a working candidate
  // Our ClientHello sent with the first probes of a punch, before any candidate answered (the
  // local index of `pending` while it is that attempt; 0: none). Its failure is the punch's
  // business, not a failed direct path.
  std::uint32_t early_hello = 0;
  // As TLS client: the early attempt was started with our LOOKUP and has nowhere to send yet
  // (engine_early_hello.cpp); via_hello is its first packet, unpadded, for HELLO_VIA.
  bool pending_unaimed = false;
  std::vector<std::uint8_t> via_hello;
  // The local index of the attempt whose ClientHello went through the rendezvous (0: none), its
  // first packet as sent directly (padded), and when that packet goes once more because a path
  // works and the server's answer, which left with the server's first probes, has still not
  // come (kNever: not due).
  std::uint32_t via_attempt = 0;
  std::vector<std::uint8_t> via_first;
  Instant via_poke_at = kNever;
  // As TLS server: the local index of `pending` when it answers a ClientHello the rendezvous
  // passed on (HELLO_FROM), first at the client's public candidate (0: none); whether a packet
  // of it came directly or a punched path worked since (its path follows that once), and how
  // many direct copies of the client's first packet came.
  std::uint32_t vouched_attempt = 0;
  bool vouched_followed = false;
  std::uint32_t vouched_copies = 0;
  bool unreachable = false;                // the last punch found no path
  bool direct_failed = false;              // a handshake toward a known endpoint failed
  bool want_direct_lookup = false;         // a session wants a new introduction (direct retry)
  // We have a new candidate (a port mapping): one lookup now, even while punching, so that the
  // peer learns it from the introduction and probes it in the punch under way.
  bool announce_lookup = false;
  bool await_reading = false;              // the next LOOKUP waits for a port reading
  Instant lookup_at = kNever;              // next LOOKUP by name
  Duration lookup_backoff = seconds(2);
  Duration unreachable_backoff{};          // grows after each failed punch
  std::uint32_t lookup_id = 0;
  std::string nat_type = "unknown";        // the peer's, from its last introduction
  protocol::NatType peer_nat = protocol::NatType::kUnknown;  // the same, as a value
  std::string punch_summary;               // what the last punch found, in words

  // Paths (engine_paths.cpp, engine_relay.cpp).
  Instant attempt_started = kNever;        // first attempt without a session (relay_after)
  bool fallback_started = false;           // relay_after has passed for this attempt
  bool fallback_done = false;              // the handshake was moved to (or started on) the relay
  RelayBinding relay;
  std::optional<Path> relay_path;          // the bound channel, over its rendezvous' transport
  Instant relay_last_rx{};
  Instant relay_unanswered_since = kNever;  // first send on the relayed path since its last rx
  Instant relay_next_probe_at = kNever;
  std::optional<Duration> relay_srtt;
  std::optional<DirectLink> direct;
  Instant direct_since{};                  // the session moved to (or began on) a direct path
  std::optional<Path> newest_rx;           // path of the newest authenticated packet
  bool roaming = false;                    // since onNetworkChange, until the direct path answers
  std::optional<Path> held;                // a demoted direct path, held down until held_until
  Instant held_until{};
  Duration hold{};                         // the next hold-down (5 s doubling to 2 min)
  Instant last_demotion{};
  Instant direct_retry_at = kNever;        // next background direct attempt while not direct-udp
  Duration direct_retry_backoff{};
  std::string path_reason;
  std::vector<PathEvent> history;          // the last kMaxHistory, oldest first
  static constexpr std::size_t kMaxHistory = 8;

  std::optional<Path> bestPath() const {
    if (last_path) {
      return last_path;
    }
    if (configured_endpoint) {
      return Path::udp(*configured_endpoint);
    }
    return std::nullopt;
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

}  // namespace vpn::client
