#include "session/handshake.hpp"

#include <algorithm>

namespace vpn::session {
namespace {

constexpr Duration kKickInitial = milliseconds(300);
constexpr Duration kKickMax = seconds(3);

}  // namespace

Handshake::Handshake(crypto::TlsContext& tls, Params params, Instant now)
    : params_(std::move(params)),
      tls_(crypto::TlsSession::create(tls, params_.role, params_.peer_name)),
      started_(now),
      deadline_(now + params_.timeout),
      validated_(params_.validated),
      bytes_in_(params_.credit) {}

void Handshake::begin(Instant now) {
  if (kickMode()) {
    kick_at_ = now;
    kick_backoff_ = kKickInitial;
  }
  if (isClient()) {
    pumpTls();
  }
}

void Handshake::fail(std::string reason) {
  if (state_ == State::kHandshaking) {
    state_ = State::kFailed;
    failure_ = std::move(reason);
  }
}

void Handshake::pumpTls() {
  if (state_ == State::kFailed) {
    return;
  }
  auto delivered = channel_.delivered();
  if (!delivered.empty()) {
    tls_->writeIncoming(delivered);
    channel_.consumeDelivered();
  }
  auto st = tls_->advance();
  std::array<std::uint8_t, 4096> buf;
  while (tls_->hasOutgoing()) {
    std::size_t n = tls_->readOutgoing(buf);
    if (n == 0) {
      break;
    }
    if (!channel_.send(std::span<const std::uint8_t>(buf.data(), n))) {
      fail("handshake too large");
      return;
    }
  }
  if (st == crypto::TlsSession::State::kFailed) {
    fail(tls_->failureReason().empty() ? std::string("TLS error") : tls_->failureReason());
  } else if (st == crypto::TlsSession::State::kEstablished && state_ == State::kHandshaking) {
    state_ = State::kEstablished;
  }
}

bool Handshake::setCookie(Instant now, const protocol::Cookie& cookie) {
  if (params_.remote_index != 0 || state_ != State::kHandshaking) {
    return false;
  }
  has_cookie_ = true;
  cookie_ = cookie;
  channel_.retransmitNow(now);
  return true;
}

bool Handshake::budgetAllows(std::size_t n) const {
  if (!params_.responder || state_ == State::kEstablished) {
    return true;
  }
  std::uint64_t limit = validated_ ? 3 * bytes_in_ : bytes_in_;
  return bytes_out_ + n <= limit;
}

void Handshake::onPacket(Instant now, const protocol::HandshakePacket& packet) {
  received_any_ = true;
  received_payload_ = received_payload_ || packet.hasPayload();
  bytes_in_ += packet.wire_size;
  if (packet.receiver_index != 0 && packet.receiver_index == params_.local_index) {
    validated_ = true;  // it names an index only our packets to that endpoint carried
  }
  if (held_) {
    held_ = false;
    channel_.retransmitNow(now);
  }
  if (packet.sender_index != 0 && params_.remote_index == 0) {
    params_.remote_index = packet.sender_index;
  }
  if (params_.remote_index != 0) {
    kick_at_ = kNever;
  }
  channel_.onPacket(now, packet);
  if (!channel_.delivered().empty()) {
    // After establishment too: in TLS 1.3 the client finishes before the server has checked the
    // client's certificate, so a rejection arrives as an alert after our side is established.
    pumpTls();
  }
}

void Handshake::sendOne(DatagramSink& sink, std::uint8_t flags, const ReliableChannel::Outgoing* out) {
  protocol::HandshakePacket p;
  p.flags = flags;
  p.sender_index = params_.local_index;
  p.receiver_index = params_.remote_index;
  std::span<const std::uint32_t> acks;
  if (out != nullptr) {
    acks = out->ackSpan();
    if (out->packet_id != 0) {
      p.flags |= protocol::kFlagPayload;
      p.packet_id = out->packet_id;
      p.payload = out->payload;
    }
  }
  if (params_.remote_index == 0) {
    p.flags |= protocol::kFlagHello | protocol::kFlagPadded;
    p.name = params_.own_name;
    p.wire_size = protocol::kMinInitialPacket;
    if (has_cookie_) {
      p.flags |= protocol::kFlagCookie;
      p.cookie = cookie_;
    }
  }
  std::size_t n = protocol::serializeHandshake(p, acks, scratch_);
  if (n == 0) {
    return;
  }
  if (!budgetAllows(n)) {
    held_ = true;
    held_back_++;
    return;
  }
  bytes_out_ += n;
  sink.sendDatagram(params_.endpoint, std::span<const std::uint8_t>(scratch_.data(), n));
}

void Handshake::flush(Instant now, DatagramSink& sink) {
  if (kickMode() && now >= kick_at_) {
    sendOne(sink, protocol::kFlagKick, nullptr);
    kick_at_ = now + kick_backoff_;
    kick_backoff_ = std::min(kKickMax, kick_backoff_ * 2);
  }
  ReliableChannel::Outgoing out;
  // Bounded: each poll either sends a window chunk (at most max_in_flight) or drains acks.
  for (int i = 0; i < 64 && channel_.poll(now, out); ++i) {
    sendOne(sink, 0, &out);
  }
}

Instant Handshake::nextDeadline() const {
  Instant next = std::min(channel_.nextDeadline(), kick_at_);
  if (state_ == State::kHandshaking) {
    next = std::min(next, deadline_);
  }
  return next;
}

}  // namespace vpn::session
