#include "session/data_keys.hpp"

#include <algorithm>

namespace vpn::session {

template <class KeySet>
std::unique_ptr<BasicDataKeys<KeySet>> BasicDataKeys<KeySet>::create(
    crypto::CipherSuite suite, const crypto::SessionSecrets& secrets, bool is_client, Instant now,
    KeySet keys) {
  std::unique_ptr<BasicDataKeys> k(new BasicDataKeys(std::move(keys)));
  k->suite_ = suite;
  k->tx_secret_ = is_client ? secrets.client_to_server : secrets.server_to_client;
  const crypto::TrafficSecret& rx = is_client ? secrets.server_to_client : secrets.client_to_server;
  k->rx_next_secret_ = crypto::nextSecret(rx);
  k->tx_phase_started_ = now;
  if (!k->keys_.init(suite, k->tx_secret_, rx, k->rx_next_secret_)) {
    return nullptr;
  }
  return k;
}

template <class KeySet>
BasicDataKeys<KeySet>::~BasicDataKeys() {
  tx_secret_.wipe();
  rx_next_secret_.wipe();
}

template <class KeySet>
bool BasicDataKeys<KeySet>::seal(bool keepalive, std::uint32_t receiver_index,
                                 std::span<std::uint8_t> packet, std::size_t payload_len) {
  return sealAs(keepalive, false, receiver_index, packet, payload_len);
}

template <class KeySet>
bool BasicDataKeys<KeySet>::sealControl(std::uint32_t receiver_index,
                                        std::span<std::uint8_t> packet, std::size_t payload_len) {
  return sealAs(false, true, receiver_index, packet, payload_len);
}

template <class KeySet>
std::optional<std::uint64_t> BasicDataKeys<KeySet>::writeHeader(bool keepalive, bool control,
                                                                std::uint32_t receiver_index,
                                                                std::span<std::uint8_t> packet,
                                                                std::size_t payload_len) {
  if (packet.size() < protocol::kDataOverhead + payload_len || exhausted()) {
    return std::nullopt;
  }
  protocol::DataHeader h;
  h.keepalive = keepalive;
  h.control = control;
  h.key_phase = tx_phase_;
  h.receiver_index = receiver_index;
  h.counter = tx_counter_++;
  protocol::writeDataHeader(h, packet);
  ++tx_in_phase_;
  return h.counter;
}

template <class KeySet>
bool BasicDataKeys<KeySet>::sealAs(bool keepalive, bool control, std::uint32_t receiver_index,
                                   std::span<std::uint8_t> packet, std::size_t payload_len) {
  auto counter = writeHeader(keepalive, control, receiver_index, packet, payload_len);
  if (!counter) {
    return false;
  }
  auto aad = packet.first(protocol::kDataHeaderSize);
  auto data = packet.subspan(protocol::kDataHeaderSize, payload_len);
  auto tag = packet.subspan(protocol::kDataHeaderSize + payload_len).first<crypto::kTagSize>();
  return keys_.seal(suite_, *counter, aad, data, tag);
}

template <class KeySet>
std::optional<SealTicket> BasicDataKeys<KeySet>::sealLater(std::uint32_t receiver_index,
                                                           std::span<std::uint8_t> packet,
                                                           std::size_t payload_len) {
  if constexpr (requires(KeySet& k) { k.txCipher(); }) {
    auto counter = writeHeader(false, false, receiver_index, packet, payload_len);
    if (!counter) {
      return std::nullopt;
    }
    return SealTicket{&keys_.txCipher(), *counter};
  } else {
    (void)receiver_index;
    (void)packet;
    (void)payload_len;
    return std::nullopt;
  }
}

template <class KeySet>
std::optional<SealTicket> BasicDataKeys<KeySet>::planOpen(const protocol::DataHeader& header) const {
  if constexpr (requires(const KeySet& k) { k.rxCurrentCipher(); }) {
    const std::uint64_t counter =
        protocol::reconstructCounter(header.counter, rx_any_ ? rx_highest_ + 1 : 0);
    if (header.key_phase != rx_phase_ || !replay_.check(counter)) {
      return std::nullopt;
    }
    return SealTicket{keys_.rxCurrentCipher(), counter};
  } else {
    (void)header;
    return std::nullopt;
  }
}

template <class KeySet>
typename BasicDataKeys<KeySet>::OpenResult BasicDataKeys<KeySet>::open(
    Instant now, const protocol::DataHeader& header, std::span<std::uint8_t> datagram,
    Duration grace) {
  return open(now, header, datagram, grace, nullptr);
}

template <class KeySet>
typename BasicDataKeys<KeySet>::OpenResult BasicDataKeys<KeySet>::open(
    Instant now, const protocol::DataHeader& header, std::span<std::uint8_t> datagram,
    Duration grace, const PreOpened* pre) {
  OpenResult r;
  // The wire carries the counter's low 24 bits; the nonce needs all of it.
  const std::uint64_t counter =
      protocol::reconstructCounter(header.counter, rx_any_ ? rx_highest_ + 1 : 0);
  if (!replay_.check(counter)) {
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
  if (header.key_phase != rx_phase_) {
    which = rx_seen_in_phase_ && counter < rx_phase_min_counter_ ? Which::kPrev
                                                                        : Which::kNext;
  }
  bool opened = false;
  if (pre != nullptr) {
    // Opened already: valid only if that was done with the key chosen now, for this counter.
    const crypto::AeadCipher* chosen = nullptr;
    if constexpr (requires(const KeySet& k) { k.rxCurrentCipher(); }) {
      chosen = which == Which::kCur    ? keys_.rxCurrentCipher()
               : which == Which::kPrev ? keys_.rxPreviousCipher()
                                       : nullptr;
    }
    if (chosen == nullptr || chosen != pre->ticket.cipher || counter != pre->ticket.counter ||
        !pre->ok) {
      return r;  // kAuthFailed; nothing changed
    }
    opened = true;
  } else {
    switch (which) {
    case Which::kCur:
      opened = keys_.openCurrent(suite_, counter, aad, data, tag);
      break;
    case Which::kPrev:
      opened = keys_.openPrevious(suite_, counter, aad, data, tag);
      break;
    case Which::kNext:
      // On success the key set has rotated: next -> current -> previous.
      opened = keys_.openNext(suite_, rx_next_secret_, counter, aad, data, tag);
      break;
    }
  }
  if (!opened) {
    return r;  // kAuthFailed; nothing changed
  }
  r.newest = !rx_any_ || counter > rx_highest_;
  if (r.newest) {
    rx_highest_ = counter;
  }
  rx_any_ = true;
  replay_.commit(counter);
  r.status = OpenStatus::kOk;
  if (which == Which::kNext) {
    // The peer moved to the next generation (the receive keys rotated in openNext): step the
    // next secret, and follow with our send key.
    prev_until_ = now + grace;
    rx_phase_ ^= 1u;
    crypto::TrafficSecret next = crypto::nextSecret(rx_next_secret_);
    rx_next_secret_.wipe();
    rx_next_secret_ = next;
    next.wipe();
    keys_.prepareNext(suite_, rx_next_secret_);
    rx_seen_in_phase_ = true;
    rx_phase_min_counter_ = counter;
    r.rotated = true;
    if (tx_phase_ != rx_phase_) {
      initiateUpdate(now);
    }
  } else if (which == Which::kCur) {
    if (!rx_seen_in_phase_ || counter < rx_phase_min_counter_) {
      rx_phase_min_counter_ = counter;
    }
    rx_seen_in_phase_ = true;
  }
  if (rx_phase_ == tx_phase_ && which != Which::kPrev) {
    confirmed_ = true;
  }
  return r;
}

template <class KeySet>
bool BasicDataKeys<KeySet>::updateDue(Instant now, Duration interval,
                                      std::uint64_t max_packets) const {
  if (!confirmed_) {
    return false;
  }
  return tx_in_phase_ >= std::min(max_packets, crypto::confidentialityLimit(suite_) / 2) ||
         now - tx_phase_started_ >= interval;
}

template <class KeySet>
Instant BasicDataKeys<KeySet>::nextUpdateCheck(Duration interval) const {
  return confirmed_ ? tx_phase_started_ + interval : kNever;
}

template <class KeySet>
void BasicDataKeys<KeySet>::initiateUpdate(Instant now) {
  crypto::TrafficSecret next = crypto::nextSecret(tx_secret_);
  if (!keys_.setTx(suite_, next)) {
    next.wipe();
    return;  // keep the old key; counters still never repeat under it
  }
  tx_secret_.wipe();
  tx_secret_ = next;
  next.wipe();
  tx_phase_ ^= 1u;
  tx_in_phase_ = 0;
  tx_phase_started_ = now;
  confirmed_ = rx_phase_ == tx_phase_;
  ++key_updates_;
}

template <class KeySet>
void BasicDataKeys<KeySet>::expire(Instant now) {
  if (keys_.hasPrevious() && now >= prev_until_) {
    keys_.dropPrevious();
    prev_until_ = kNever;
  }
}

template class BasicDataKeys<CipherKeySet>;
template class BasicDataKeys<CompactKeySet>;

}  // namespace vpn::session
