#pragma once
// ReliableChannel: a small reliable, ordered byte stream over unreliable handshake packets
// (protocol/handshake_packet.hpp). It carries one TLS 1.3 handshake in each direction, so it is
// built for a few kilobytes, not for bulk transfer.
//
// Sender: stream bytes are cut into chunks of at most kMaxHandshakePayload, numbered from 1. At
// most `max_in_flight` consecutive ids past the oldest unacked chunk are on the wire (a sliding
// window by id, which also bounds the receiver's reorder buffer). A chunk not acked within its RTO
// is resent; each resend of a chunk doubles its RTO up to `max_rto`. The base RTO is
// `initial_rto` until an RTT is measured (Karn: only chunks sent once give samples), then
// max(min_rto, 2 * srtt).
// Receiver: every payload packet is acked, duplicates included (the ack that was lost is what made
// the peer resend). Chunks up to `reorder_window` ids ahead are buffered; later ones are dropped
// unacked so the sender resends them. In-order bytes are appended to the delivered stream.
// Acks ride on outgoing payload packets (up to kMaxAcksPerPacket) or go out at once in an ack-only
// packet.
//
// Sans-I/O: the owner feeds parsed packets with onPacket(), pulls packets to send with poll(), and
// calls poll() again when nextDeadline() passes. Single-threaded; never throws after construction
// except std::bad_alloc.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/time.hpp"
#include "protocol/handshake_packet.hpp"

namespace vpn::session {

struct ReliableChannelOptions {
  Duration initial_rto = milliseconds(300);
  Duration min_rto = milliseconds(200);
  Duration max_rto = seconds(3);
  std::size_t max_in_flight = 16;
  std::uint32_t reorder_window = 32;
  std::size_t max_queued_bytes = 1u << 20;   // unacked + unsent stream bytes
  std::size_t max_pending_acks = 64;
};

class ReliableChannel {
 public:
  // One packet to put on the wire. `payload` views the channel's own buffer and stays valid until
  // the next non-const call on the channel.
  struct Outgoing {
    std::uint32_t packet_id = 0;  // 0: ack-only, no payload
    std::span<const std::uint8_t> payload;
    std::array<std::uint32_t, protocol::kMaxAcksPerPacket> acks{};
    std::size_t ack_count = 0;
    std::span<const std::uint32_t> ackSpan() const { return {acks.data(), ack_count}; }
  };

  explicit ReliableChannel(ReliableChannelOptions options = {});

  // Queues stream bytes. Returns false (queuing nothing) if the queue would exceed
  // max_queued_bytes.
  bool send(std::span<const std::uint8_t> bytes);

  // Processes the acks and the payload of a packet from the peer. Returns false if the payload
  // was dropped (too far ahead); acks are processed in any case.
  bool onPacket(Instant now, const protocol::HandshakePacket& packet);

  // In-order stream bytes received so far and not yet taken.
  std::span<const std::uint8_t> delivered() const { return delivered_; }
  void consumeDelivered() { delivered_.clear(); }

  // The next packet due now: a retransmission, a new chunk, or (only when no payload packet is
  // due) an ack-only packet. Returns false when nothing is due. Call repeatedly.
  bool poll(Instant now, Outgoing& out);
  // Asks for every unacked chunk to be resent at the next poll() (the peer showed it is alive
  // but may have missed us).
  void retransmitNow(Instant now);

  // When poll() should next be called; kNever if nothing is pending.
  Instant nextDeadline() const;

  bool allAcked() const { return unacked_.empty(); }
  bool hasPendingAcks() const { return !pending_acks_.empty(); }
  std::optional<Duration> srtt() const { return srtt_; }
  std::uint64_t retransmissions() const { return retransmissions_; }
  std::uint64_t bytesSent() const { return bytes_sent_; }

 private:
  struct Chunk {
    std::uint32_t id = 0;
    std::vector<std::uint8_t> bytes;
    bool sent = false;
    bool acked = false;
    unsigned transmissions = 0;
    Instant first_sent{};
    Instant deadline{};
  };

  Duration baseRto() const;
  Duration rtoFor(const Chunk& c) const;
  void onAck(Instant now, std::uint32_t id);
  void fillAcks(Outgoing& out);
  std::size_t windowEnd() const;

  ReliableChannelOptions options_;
  // Sender: chunks from the oldest unacked id on, sent or not yet sent.
  std::deque<Chunk> unacked_;
  std::uint32_t next_id_ = 1;
  std::size_t queued_bytes_ = 0;
  std::optional<Duration> srtt_;
  std::uint64_t retransmissions_ = 0;
  std::uint64_t bytes_sent_ = 0;
  // Receiver.
  std::uint32_t next_expected_ = 1;
  std::map<std::uint32_t, std::vector<std::uint8_t>> reorder_;
  std::vector<std::uint8_t> delivered_;
  std::deque<std::uint32_t> pending_acks_;
  Instant last_now_{};
};

}  // namespace vpn::session
