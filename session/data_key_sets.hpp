#pragma once
// Key sets for session::BasicDataKeys (data_keys.hpp): where one session's data keys live and how
// they seal and open. BasicDataKeys owns the key-update logic and the traffic secrets; a key set
// holds the send key and the current, previous and (CipherKeySet only) next receive keys.
//
// Both offer the same operations:
//   init(suite, tx, rx, rx_next)         the keys of a new session; false if one can't be made
//   setTx(suite, secret)                 a new send key (a key update); false keeps the old one
//   seal(suite, counter, aad, data, tag) with the send key
//   openCurrent / openPrevious(...)      with that receive key (previous: false if none)
//   openNext(suite, next_secret, ...)    with the next generation's receive key; on success that
//                                        key becomes current and the current one previous
//   prepareNext(suite, next_secret)      after openNext succeeded and the secret stepped
//   hasPrevious(), dropPrevious()
// and name their replay window type as Window. Secrets are only read, never kept by a key set.
// Single-threaded; seal/open never allocate or throw (openNext in CompactKeySet runs HKDF).
#include <cstdint>
#include <memory>
#include <span>

#include "crypto/aead.hpp"
#include "crypto/key_schedule.hpp"
#include "crypto/replay_window.hpp"

namespace vpn::session {

// The data path's: one OpenSSL context per key (about 1.2 KB each), the next receive key built
// ahead so a key update costs the packet that carries it nothing. Nothing here throws: a key
// OpenSSL cannot make is reported as false (init, setTx) or as a receive key that opens nothing
// (prepareNext), so no exception reaches the data path.
class CipherKeySet {
 public:
  using Window = crypto::ReplayWindow;

  bool init(crypto::CipherSuite suite, const crypto::TrafficSecret& tx,
            const crypto::TrafficSecret& rx, const crypto::TrafficSecret& rx_next);
  bool setTx(crypto::CipherSuite suite, const crypto::TrafficSecret& secret);

  bool seal(crypto::CipherSuite, std::uint64_t counter, std::span<const std::uint8_t> aad,
            std::span<std::uint8_t> data, std::span<std::uint8_t, crypto::kTagSize> tag) {
    return tx_->seal(counter, aad, data, tag);
  }
  bool openCurrent(crypto::CipherSuite, std::uint64_t counter, std::span<const std::uint8_t> aad,
                   std::span<std::uint8_t> data,
                   std::span<const std::uint8_t, crypto::kTagSize> tag) {
    return rx_cur_->open(counter, aad, data, tag);
  }
  bool openPrevious(crypto::CipherSuite, std::uint64_t counter, std::span<const std::uint8_t> aad,
                    std::span<std::uint8_t> data,
                    std::span<const std::uint8_t, crypto::kTagSize> tag) {
    return rx_prev_ != nullptr && rx_prev_->open(counter, aad, data, tag);
  }
  bool openNext(crypto::CipherSuite suite, const crypto::TrafficSecret& next_secret,
                std::uint64_t counter, std::span<const std::uint8_t> aad,
                std::span<std::uint8_t> data, std::span<const std::uint8_t, crypto::kTagSize> tag);
  void prepareNext(crypto::CipherSuite suite, const crypto::TrafficSecret& next_secret);

  bool hasPrevious() const { return rx_prev_ != nullptr; }
  void dropPrevious() { rx_prev_.reset(); }
  // The send key, for sealing elsewhere (DataKeys::sealLater); replaced by setTx.
  crypto::AeadCipher& txCipher() { return *tx_; }
  // The receive keys, for opening elsewhere (DataKeys::planOpen); previous may be null.
  crypto::AeadCipher* rxCurrentCipher() const { return rx_cur_.get(); }
  crypto::AeadCipher* rxPreviousCipher() const { return rx_prev_.get(); }

 private:
  std::unique_ptr<crypto::AeadCipher> tx_;
  std::unique_ptr<crypto::AeadCipher> rx_cur_;
  std::unique_ptr<crypto::AeadCipher> rx_next_;
  std::unique_ptr<crypto::AeadCipher> rx_prev_;
};

// The rendezvous server's: keys as 44 bytes each, sealed and opened through an AeadScratch that
// all sessions share (it must outlive the key set). The next receive key is not kept: openNext
// derives it from the next secret (two HKDF-Expand, about 10 us), which happens once per key
// update for genuine packets; a forged packet of the other phase with a fresh counter costs the
// same. Wipes its keys when destroyed.
class CompactKeySet {
 public:
  using Window = crypto::SmallReplayWindow;

  explicit CompactKeySet(crypto::AeadScratch& scratch) : scratch_(&scratch) {}
  CompactKeySet(CompactKeySet&& other) noexcept;
  CompactKeySet& operator=(CompactKeySet&&) = delete;
  ~CompactKeySet();

  bool init(crypto::CipherSuite suite, const crypto::TrafficSecret& tx,
            const crypto::TrafficSecret& rx, const crypto::TrafficSecret& rx_next);
  bool setTx(crypto::CipherSuite suite, const crypto::TrafficSecret& secret);

  bool seal(crypto::CipherSuite suite, std::uint64_t counter, std::span<const std::uint8_t> aad,
            std::span<std::uint8_t> data, std::span<std::uint8_t, crypto::kTagSize> tag) {
    return scratch_->seal(suite, tx_, counter, aad, data, tag);
  }
  bool openCurrent(crypto::CipherSuite suite, std::uint64_t counter,
                   std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                   std::span<const std::uint8_t, crypto::kTagSize> tag) {
    return scratch_->open(suite, rx_cur_, counter, aad, data, tag);
  }
  bool openPrevious(crypto::CipherSuite suite, std::uint64_t counter,
                    std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                    std::span<const std::uint8_t, crypto::kTagSize> tag) {
    return has_prev_ && scratch_->open(suite, rx_prev_, counter, aad, data, tag);
  }
  bool openNext(crypto::CipherSuite suite, const crypto::TrafficSecret& next_secret,
                std::uint64_t counter, std::span<const std::uint8_t> aad,
                std::span<std::uint8_t> data, std::span<const std::uint8_t, crypto::kTagSize> tag);
  void prepareNext(crypto::CipherSuite, const crypto::TrafficSecret&) {}

  bool hasPrevious() const { return has_prev_; }
  void dropPrevious();

 private:
  crypto::AeadScratch* scratch_;
  crypto::AeadKey tx_;
  crypto::AeadKey rx_cur_;
  crypto::AeadKey rx_prev_;
  bool has_prev_ = false;
};

}  // namespace vpn::session
