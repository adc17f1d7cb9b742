#pragma once
// PeerSession: one established session with a peer: the two indices, the path we send on, the data
// keys, liveness and RTT state, and the finished handshake lingering a little to ack the peer's
// last flight. Owned by the Engine's per-peer state; replaced whole by a newer handshake.
// Peer sessions and rendezvous sessions are both PeerSessions; only what they carry differs.
// Single-threaded; plain state plus small helpers that never allocate.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "session/data_keys.hpp"
#include "session/handshake.hpp"
#include "session/rate_limiter.hpp"
#include "session/reliable_channel.hpp"
#include "client/engine/path.hpp"
#include "client/engine/pmtu_search.hpp"
#include "session/datagram_sink.hpp"

namespace vpn::client {

using session::DataKeys;
using session::Handshake;
using session::RateLimiter;
using session::ReliableChannel;

// Keepalive liveness probes, the plaintext of a keepalive (data_packet.hpp): kind | token (64).
// Peers and rendezvous servers both answer them.
inline constexpr std::uint8_t kLivenessRequest = 1;
inline constexpr std::uint8_t kLivenessReply = 2;
inline constexpr std::size_t kLivenessSize = 9;

struct SessionTiming {
  Duration keepalive_interval;
  Duration rekey_interval;
  std::uint64_t rekey_after_packets;
  Duration linger;  // how long the finished handshake stays to ack retransmissions
};

struct PeerSession {
  // The session a finished handshake makes, with fresh liveness state.
  static std::unique_ptr<PeerSession> establish(std::unique_ptr<Handshake> hs,
                                                std::unique_ptr<DataKeys> keys, Instant now,
                                                const SessionTiming& timing, const Path& path);

  // Routine upkeep at `now`: expires old receive keys, lets the finished handshake ack or go,
  // starts a due key update. Returns the token of a liveness probe the caller must send now, if
  // one is due. Dead-peer handling stays with the caller (peers and rendezvous differ there).
  std::optional<std::uint64_t> upkeep(Instant now, const SessionTiming& timing,
                                      session::DatagramSink& sink, std::uint64_t& next_token);

  std::uint32_t local_index = 0;   // the peer puts this in its packets to us
  std::uint32_t remote_index = 0;  // we put this in our packets to the peer
  Path path;  // where we send (the active path)
  std::unique_ptr<DataKeys> keys;
  Instant established_at{};
  Instant last_rx{};  // last authenticated packet
  Instant last_tx{};
  // Keepalive probes: one outstanding at a time, identified by a token.
  Instant next_probe_at{};
  std::uint64_t probe_token = 0;
  Instant probe_sent_at{};
  bool probe_outstanding = false;
  // Path validation: the token of the liveness request sent on a path the session may move to
  // (0: none), apart from probe_token so other liveness requests do not replace it; and the token
  // of the newest liveness reply.
  std::uint64_t validation_token = 0;
  std::uint64_t last_reply_token = 0;
  std::optional<Duration> srtt;
  // Path MTU discovery on the active path; pmtu_path is the path it measures (a new active path
  // starts a new search: Engine::Impl::syncPmtu).
  PmtuSearch pmtu;
  std::optional<Path> pmtu_path;
  // The handshake that made this session, kept until linger_until to ack retransmissions.
  std::unique_ptr<Handshake> linger;
  Instant linger_until = kNever;

  // A keepalive's plaintext: empty (nothing to do), a liveness request (returns the token to echo
  // in a reply) or a reply to our outstanding probe (an RTT sample). `malformed` is set for
  // anything else, which the caller counts.
  std::optional<std::uint64_t> onKeepalive(Instant now, std::span<const std::uint8_t> plain,
                                           bool& malformed);

  void onRttSample(Duration sample) { srtt = srtt ? (*srtt * 7 + sample) / 8 : sample; }
  // How long an old receive key stays after a key update: three RTTs covers reordering within
  // the path's own delay spread; the 2 s floor covers an unmeasured RTT and scheduling jitter.
  Duration keyGrace() const { return std::max<Duration>(seconds(2), srtt ? *srtt * 3 : Duration{}); }
};

}  // namespace vpn::client
