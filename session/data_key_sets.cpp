#include "session/data_key_sets.hpp"

namespace vpn::session {
namespace {

// makeCipher throws if OpenSSL cannot provide the cipher (or memory runs out); a key update
// happens on the data path, where no exception may pass: a missing key is a failed open or a
// kept send key instead, which the callers already handle.
std::unique_ptr<crypto::AeadCipher> cipherOrNull(crypto::CipherSuite suite,
                                                 const crypto::TrafficSecret& secret) noexcept {
  try {
    return crypto::makeCipher(suite, secret);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

bool CipherKeySet::init(crypto::CipherSuite suite, const crypto::TrafficSecret& tx,
                        const crypto::TrafficSecret& rx, const crypto::TrafficSecret& rx_next) {
  tx_ = cipherOrNull(suite, tx);
  rx_cur_ = cipherOrNull(suite, rx);
  rx_next_ = cipherOrNull(suite, rx_next);
  return tx_ && rx_cur_ && rx_next_;
}

bool CipherKeySet::setTx(crypto::CipherSuite suite, const crypto::TrafficSecret& secret) {
  auto cipher = cipherOrNull(suite, secret);
  if (!cipher) {
    return false;
  }
  tx_ = std::move(cipher);
  return true;
}

bool CipherKeySet::openNext(crypto::CipherSuite, const crypto::TrafficSecret&,
                            std::uint64_t counter, std::span<const std::uint8_t> aad,
                            std::span<std::uint8_t> data,
                            std::span<const std::uint8_t, crypto::kTagSize> tag) {
  if (rx_next_ == nullptr || !rx_next_->open(counter, aad, data, tag)) {
    return false;
  }
  rx_prev_ = std::move(rx_cur_);
  rx_cur_ = std::move(rx_next_);
  return true;
}

void CipherKeySet::prepareNext(crypto::CipherSuite suite,
                               const crypto::TrafficSecret& next_secret) {
  rx_next_ = cipherOrNull(suite, next_secret);
}

CompactKeySet::CompactKeySet(CompactKeySet&& other) noexcept
    : scratch_(other.scratch_),
      tx_(other.tx_),
      rx_cur_(other.rx_cur_),
      rx_prev_(other.rx_prev_),
      has_prev_(other.has_prev_) {
  other.tx_.wipe();
  other.rx_cur_.wipe();
  other.dropPrevious();
}

CompactKeySet::~CompactKeySet() {
  tx_.wipe();
  rx_cur_.wipe();
  rx_prev_.wipe();
}

bool CompactKeySet::init(crypto::CipherSuite, const crypto::TrafficSecret& tx,
                         const crypto::TrafficSecret& rx, const crypto::TrafficSecret&) {
  tx_ = crypto::deriveKey(tx);
  rx_cur_ = crypto::deriveKey(rx);
  return true;
}

bool CompactKeySet::setTx(crypto::CipherSuite, const crypto::TrafficSecret& secret) {
  crypto::AeadKey k = crypto::deriveKey(secret);
  tx_.wipe();
  tx_ = k;
  k.wipe();
  return true;
}

bool CompactKeySet::openNext(crypto::CipherSuite suite, const crypto::TrafficSecret& next_secret,
                             std::uint64_t counter, std::span<const std::uint8_t> aad,
                             std::span<std::uint8_t> data,
                             std::span<const std::uint8_t, crypto::kTagSize> tag) {
  crypto::AeadKey next = crypto::deriveKey(next_secret);
  bool ok = scratch_->open(suite, next, counter, aad, data, tag);
  if (ok) {
    rx_prev_ = rx_cur_;
    has_prev_ = true;
    rx_cur_ = next;
  }
  next.wipe();
  return ok;
}

void CompactKeySet::dropPrevious() {
  rx_prev_.wipe();
  has_prev_ = false;
}

}  // namespace vpn::session
