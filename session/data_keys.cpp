#include "session/data_keys.hpp"

namespace vpn::session {

std::unique_ptr<DataKeys> DataKeys::create(crypto::CipherSuite suite,
                                           const crypto::SessionSecrets& secrets, bool is_client,
                                           Instant now) {
  std::unique_ptr<DataKeys> k(new DataKeys());
  k->suite_ = suite;
  k->tx_secret_ = is_client ? secrets.client_to_server : secrets.server_to_client;
  const crypto::TrafficSecret& rx = is_client ? secrets.server_to_client : secrets.client_to_server;
  k->tx_ = crypto::makeCipher(suite, k->tx_secret_);
  k->rx_cur_ = crypto::makeCipher(suite, rx);
  k->rx_next_secret_ = crypto::nextSecret(rx);
  k->rx_next_ = crypto::makeCipher(suite, k->rx_next_secret_);
  k->tx_phase_started_ = now;
  if (!k->tx_ || !k->rx_cur_ || !k->rx_next_) {
    return nullptr;
  }
  return k;
}

DataKeys::~DataKeys() {
  tx_secret_.wipe();
  rx_next_secret_.wipe();
}

bool DataKeys::seal(bool keepalive, std::uint32_t receiver_index, std::span<std::uint8_t> packet,
                    std::size_t payload_len) {
  return sealAs(keepalive, false, receiver_index, packet, payload_len);
}

bool DataKeys::sealControl(std::uint32_t receiver_index, std::span<std::uint8_t> packet,
                           std::size_t payload_len) {
  return sealAs(false, true, receiver_index, packet, payload_len);
}

bool DataKeys::sealAs(bool keepalive, bool control, std::uint32_t receiver_index,
                      std::span<std::uint8_t> packet, std::size_t payload_len) {
  if (packet.size() < protocol::kDataOverhead + payload_len) {
    return false;
  }
  protocol::DataHeader h;
  h.keepalive = keepalive;
  h.control = control;
  h.key_phase = tx_phase_;
  h.receiver_index = receiver_index;
  h.counter = tx_counter_++;
  protocol::writeDataHeader(h, packet);
  auto aad = packet.first(protocol::kDataHeaderSize);
  auto data = packet.subspan(protocol::kDataHeaderSize, payload_len);
  auto tag = packet.subspan(protocol::kDataHeaderSize + payload_len).first<crypto::kTagSize>();
  ++tx_in_phase_;
  return tx_->seal(h.counter, aad, data, tag);
}

DataKeys::OpenResult DataKeys::open(Instant now, const protocol::DataHeader& header,
                                    std::span<std::uint8_t> datagram, Duration grace) {
  OpenResult r;
  if (!replay_.check(header.counter)) {
    r.status = OpenStatus::kReplay;
    return r;
  }
  if (datagram.size() < protocol::kDataOverhead) {
    return r;
  }
  std::size_t len = datagram.size() - protocol::kDataOverhead;
  auto aad = datagram.first(protocol::kDataHeaderSize);
  auto data = datagram.subspan(protocol::kDataHeaderSize, len);
  auto tag = datagram.subspan(protocol::kDataHeaderSize + len).first<crypto::kTagSize>();

  enum class Which { kCur, kPrev, kNext } which = Which::kCur;
  crypto::AeadCipher* cipher = rx_cur_.get();
  if (header.key_phase != rx_phase_) {
    if (rx_seen_in_phase_ && header.counter < rx_phase_min_counter_) {
      which = Which::kPrev;
      cipher = rx_prev_.get();
    } else {
      which = Which::kNext;
      cipher = rx_next_.get();
    }
  }
  if (cipher == nullptr || !cipher->open(header.counter, aad, data, tag)) {
    return r;  // kAuthFailed; nothing changed
  }
  r.newest = !rx_any_ || header.counter > rx_highest_;
  if (r.newest) {
    rx_highest_ = header.counter;
  }
  rx_any_ = true;
  replay_.commit(header.counter);
  r.status = OpenStatus::kOk;
  if (which == Which::kNext) {
    // The peer moved to the next generation: rotate receive keys, follow with our send key.
    rx_prev_ = std::move(rx_cur_);
    prev_until_ = now + grace;
    rx_cur_ = std::move(rx_next_);
    rx_phase_ ^= 1u;
    crypto::TrafficSecret next = crypto::nextSecret(rx_next_secret_);
    rx_next_secret_.wipe();
    rx_next_secret_ = next;
    next.wipe();
    rx_next_ = crypto::makeCipher(suite_, rx_next_secret_);
    rx_seen_in_phase_ = true;
    rx_phase_min_counter_ = header.counter;
    r.rotated = true;
    if (tx_phase_ != rx_phase_) {
      initiateUpdate(now);
    }
  } else if (which == Which::kCur) {
    if (!rx_seen_in_phase_ || header.counter < rx_phase_min_counter_) {
      rx_phase_min_counter_ = header.counter;
    }
    rx_seen_in_phase_ = true;
  }
  if (rx_phase_ == tx_phase_ && which != Which::kPrev) {
    confirmed_ = true;
  }
  return r;
}

bool DataKeys::updateDue(Instant now, Duration interval, std::uint64_t max_packets) const {
  if (!confirmed_) {
    return false;
  }
  return tx_in_phase_ >= max_packets || now - tx_phase_started_ >= interval;
}

Instant DataKeys::nextUpdateCheck(Duration interval) const {
  return confirmed_ ? tx_phase_started_ + interval : kNever;
}

void DataKeys::initiateUpdate(Instant now) {
  crypto::TrafficSecret next = crypto::nextSecret(tx_secret_);
  auto cipher = crypto::makeCipher(suite_, next);
  if (!cipher) {
    next.wipe();
    return;  // keep the old key; counters still never repeat under it
  }
  tx_secret_.wipe();
  tx_secret_ = next;
  next.wipe();
  tx_ = std::move(cipher);
  tx_phase_ ^= 1u;
  tx_in_phase_ = 0;
  tx_phase_started_ = now;
  confirmed_ = rx_phase_ == tx_phase_;
  ++key_updates_;
}

void DataKeys::expire(Instant now) {
  if (rx_prev_ && now >= prev_until_) {
    rx_prev_.reset();
    prev_until_ = kNever;
  }
}

}  // namespace vpn::session
