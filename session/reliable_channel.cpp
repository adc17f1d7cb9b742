#include "session/reliable_channel.hpp"

#include <algorithm>

namespace vpn::session {

ReliableChannel::ReliableChannel(ReliableChannelOptions options) : options_(options) {}

bool ReliableChannel::send(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > options_.max_queued_bytes - std::min(queued_bytes_, options_.max_queued_bytes)) {
    return false;
  }
  while (!bytes.empty()) {
    std::size_t n = std::min(bytes.size(), protocol::kMaxHandshakePayload);
    Chunk c;
    c.id = next_id_++;
    c.bytes.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    unacked_.push_back(std::move(c));
    queued_bytes_ += n;
    bytes = bytes.subspan(n);
  }
  return true;
}

Duration ReliableChannel::baseRto() const {
  if (!srtt_) {
    return options_.initial_rto;
  }
  return std::min(options_.max_rto, std::max(options_.min_rto, 2 * *srtt_));
}

Duration ReliableChannel::rtoFor(const Chunk& c) const {
  Duration rto = baseRto();
  for (unsigned i = 1; i < c.transmissions && rto < options_.max_rto; ++i) {
    rto *= 2;
  }
  return std::min(rto, options_.max_rto);
}

std::size_t ReliableChannel::windowEnd() const {
  return std::min(unacked_.size(), options_.max_in_flight);
}

void ReliableChannel::onAck(Instant now, std::uint32_t id) {
  if (unacked_.empty() || id < unacked_.front().id) {
    return;
  }
  std::size_t idx = id - unacked_.front().id;
  if (idx >= unacked_.size()) {
    return;
  }
  Chunk& c = unacked_[idx];
  if (!c.sent || c.acked) {
    return;  // an ack for something never sent is bogus; a repeated ack changes nothing
  }
  c.acked = true;
  queued_bytes_ -= c.bytes.size();
  if (c.transmissions == 1 && now >= c.first_sent) {
    Duration sample = now - c.first_sent;
    srtt_ = srtt_ ? (*srtt_ * 7 + sample) / 8 : sample;
  }
  while (!unacked_.empty() && unacked_.front().acked) {
    unacked_.pop_front();
  }
}

bool ReliableChannel::onPacket(Instant now, const protocol::HandshakePacket& packet) {
  last_now_ = std::max(last_now_, now);
  for (std::size_t i = 0; i < packet.ackCount(); ++i) {
    onAck(now, packet.ack(i));
  }
  if (!packet.hasPayload()) {
    return true;
  }
  std::uint32_t id = packet.packet_id;
  if (id >= next_expected_) {
    if (id - next_expected_ >= options_.reorder_window) {
      return false;  // not acked: the sender will resend once the window moves
    }
    if (id == next_expected_) {
      delivered_.insert(delivered_.end(), packet.payload.begin(), packet.payload.end());
      ++next_expected_;
      for (auto it = reorder_.find(next_expected_); it != reorder_.end();
           it = reorder_.find(next_expected_)) {
        delivered_.insert(delivered_.end(), it->second.begin(), it->second.end());
        reorder_.erase(it);
        ++next_expected_;
      }
    } else if (reorder_.find(id) == reorder_.end()) {
      reorder_.emplace(id, std::vector<std::uint8_t>(packet.payload.begin(), packet.payload.end()));
    }
  }
  if (std::find(pending_acks_.begin(), pending_acks_.end(), id) == pending_acks_.end()) {
    if (pending_acks_.size() >= options_.max_pending_acks) {
      pending_acks_.pop_front();
    }
    pending_acks_.push_back(id);
  }
  return true;
}

void ReliableChannel::fillAcks(Outgoing& out) {
  out.ack_count = 0;
  while (!pending_acks_.empty() && out.ack_count < out.acks.size()) {
    out.acks[out.ack_count++] = pending_acks_.front();
    pending_acks_.pop_front();
  }
}

bool ReliableChannel::poll(Instant now, Outgoing& out) {
  last_now_ = std::max(last_now_, now);
  std::size_t end = windowEnd();
  Chunk* pick = nullptr;
  for (std::size_t i = 0; i < end; ++i) {
    Chunk& c = unacked_[i];
    if (c.sent && !c.acked && c.deadline <= now) {
      pick = &c;
      ++retransmissions_;
      break;
    }
  }
  if (pick == nullptr) {
    for (std::size_t i = 0; i < end; ++i) {
      if (!unacked_[i].sent) {
        pick = &unacked_[i];
        pick->sent = true;
        pick->first_sent = now;
        break;
      }
    }
  }
  if (pick != nullptr) {
    pick->transmissions++;
    pick->deadline = now + rtoFor(*pick);
    bytes_sent_ += pick->bytes.size();
    out.packet_id = pick->id;
    out.payload = pick->bytes;
    fillAcks(out);
    return true;
  }
  if (!pending_acks_.empty()) {
    out.packet_id = 0;
    out.payload = {};
    fillAcks(out);
    return true;
  }
  return false;
}

void ReliableChannel::retransmitNow(Instant now) {
  std::size_t end = windowEnd();
  for (std::size_t i = 0; i < end; ++i) {
    Chunk& c = unacked_[i];
    if (c.sent && !c.acked) {
      c.deadline = std::min(c.deadline, now);
    }
  }
}

Instant ReliableChannel::nextDeadline() const {
  if (!pending_acks_.empty()) {
    return last_now_;
  }
  Instant next = kNever;
  std::size_t end = windowEnd();
  for (std::size_t i = 0; i < end; ++i) {
    const Chunk& c = unacked_[i];
    if (!c.sent) {
      return last_now_;
    }
    if (!c.acked) {
      next = std::min(next, c.deadline);
    }
  }
  return next;
}

}  // namespace vpn::session
