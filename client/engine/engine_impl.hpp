#pragma once
// Engine internals shared by engine.cpp (lifecycle, timers, status), engine_handshake.cpp
// (matching handshake packets, roles, session install) and engine_data.cpp (data path, keepalives,
// key updates). Not part of the public interface.
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

  crypto::TlsContext& tls;
  EngineOptions options;
  EngineSink& sink;
  std::vector<std::unique_ptr<PeerState>> peers;
  std::unordered_map<std::uint32_t, PeerState*> by_index;  // our local index -> peer
  std::unordered_map<protocol::IpAddress, PeerState*, protocol::IpAddressHash> routes;
  DropCounters drops;
  RateLimiter limiter;
  std::uint64_t next_probe_token = 1;
  // Room to seal a queued packet or a keepalive: header + slot + tag.
  std::array<std::uint8_t, protocol::kDataOverhead + TxQueue::kSlotSize> scratch{};
};

}  // namespace vpn::client
