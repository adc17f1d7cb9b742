#pragma once
// DataKeys: the data-channel keys of one session in both directions, with QUIC-style key updates
// (RFC 9001 section 6) on a one-bit key phase.
//
// Counters run on across key phases (they are never reset), so one replay window covers a
// direction and a (key, counter) pair is never reused. To update, a side steps its send secret
// with crypto::nextSecret and flips the phase bit. A receiver that sees the other phase with a
// counter above the lowest counter of its current phase tries the next-generation key; on success
// it rotates its receive keys and, if it had not updated yet, its send key too. The previous
// receive key stays for a grace period so reordered old-phase packets still open. A side starts
// another update only after it received a packet in its current send phase, so the two sides are
// never more than one generation apart and simultaneous updates converge.
//
// The key-update logic is BasicDataKeys; where the keys live is its KeySet (data_key_sets.hpp):
//  - DataKeys (CipherKeySet, ReplayWindow): the peer's data path. One OpenSSL context per key,
//    the next receive key precomputed, an 8192-packet replay window. About 4.9 KB of heap.
//  - CompactDataKeys (CompactKeySet, SmallReplayWindow): the rendezvous server's one session per
//    registered peer, low-rate and nearly in order. Keys as bytes, sealed and opened through a
//    crypto::AeadScratch shared by all sessions (re-keyed per packet), the next receive key
//    derived only when a packet of the other phase arrives, a 256-packet replay window. About
//    350 bytes of heap.
// Both produce the same packets and interoperate.
//
// Per-packet calls (seal, open) never throw, and don't allocate except when a key is derived:
// DataKeys at a key update (a new cipher; one OpenSSL cannot make leaves the update undone, see
// data_key_sets.hpp), CompactDataKeys at a key update and for every packet that carries the
// other phase with a counter past the current phase's first (two HKDF-Expand, about 10 us;
// forged ones included, since the key is needed to authenticate them). Single-threaded. Owned by a
// client PeerSession (DataKeys) or a rendezvous PeerRecord (CompactDataKeys).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "crypto/aead.hpp"
#include "crypto/key_schedule.hpp"
#include "protocol/data_packet.hpp"
#include "session/data_key_sets.hpp"

namespace vpn::session {

enum class DataOpenStatus { kOk, kReplay, kAuthFailed };
// What sealLater() leaves to be done: seal the packet's payload with `cipher` (any of its lanes)
// and `counter`, as seal() would have. planOpen() returns the same for opening.
struct SealTicket {
  crypto::AeadCipher* cipher = nullptr;
  std::uint64_t counter = 0;
};
// A datagram opened ahead of open() (with a planOpen ticket, on another thread): `ok` is the AEAD
// result, and on success the payload is already plaintext in place.
struct PreOpened {
  SealTicket ticket;
  bool ok = false;
};
struct DataOpenResult {
  DataOpenStatus status = DataOpenStatus::kAuthFailed;
  bool newest = false;   // the counter is the highest accepted so far (safe to roam on)
  bool rotated = false;  // this packet moved us to the peer's new key phase
};

template <class KeySet>
class BasicDataKeys {
 public:
  using OpenStatus = DataOpenStatus;
  using OpenResult = DataOpenResult;

  // nullptr if a key could not be made. is_client selects which exported secret we send with.
  // `keys` is an empty key set (CompactKeySet names the shared AeadScratch, which must outlive
  // the returned object).
  static std::unique_ptr<BasicDataKeys> create(crypto::CipherSuite suite,
                                               const crypto::SessionSecrets& secrets,
                                               bool is_client, Instant now, KeySet keys = KeySet());
  ~BasicDataKeys();
  BasicDataKeys(const BasicDataKeys&) = delete;
  BasicDataKeys& operator=(const BasicDataKeys&) = delete;

  // Seals packet = [header | payload_len bytes | tag] in place, writing the header with the next
  // counter and the current phase. packet must hold kDataOverhead + payload_len bytes.
  bool seal(bool keepalive, std::uint32_t receiver_index, std::span<std::uint8_t> packet,
            std::size_t payload_len);
  // seal() split in two, so the AEAD can run elsewhere (on a worker thread, with a batch): writes
  // the header with the next counter and returns the key and counter to seal the payload with;
  // nullopt where seal() would have failed, or for CompactDataKeys (no cipher to hand out). The
  // cipher stays valid until the next initiateUpdate() (or open() rotating the keys, which may
  // call it) and the destruction of these keys: the caller seals every ticket before either.
  std::optional<SealTicket> sealLater(std::uint32_t receiver_index, std::span<std::uint8_t> packet,
                                      std::size_t payload_len);
  // Same, as a sealed control packet (type 0x60|P, rendezvous_messages.hpp): the type byte is
  // part of the associated data, so it must be chosen before sealing.
  bool sealControl(std::uint32_t receiver_index, std::span<std::uint8_t> packet,
                   std::size_t payload_len);

  // Opens a parsed datagram in place; on kOk the plaintext is
  // datagram[kDataHeaderSize, size - kAeadTagSize). `grace` is how long the previous receive key
  // is kept if this packet rotates the keys.
  OpenResult open(Instant now, const protocol::DataHeader& header, std::span<std::uint8_t> datagram,
                  Duration grace);
  // open() split in two so the AEAD can run elsewhere: for a packet in the current receive phase
  // that the replay window would accept now, the key and counter to open it with (nullopt
  // otherwise, and always for CompactDataKeys). Changes nothing. open(..., &pre) then does the
  // rest with the result: if the key it would use is not the planned one (the keys rotated in
  // between), the packet counts as not authentic, since its bytes were already changed.
  std::optional<SealTicket> planOpen(const protocol::DataHeader& header) const;
  OpenResult open(Instant now, const protocol::DataHeader& header, std::span<std::uint8_t> datagram,
                  Duration grace, const PreOpened* pre);

  // True if we may and should start a key update now: after `interval`, after `max_packets`, or
  // at half the cipher's confidentiality limit, whichever comes first.
  bool updateDue(Instant now, Duration interval, std::uint64_t max_packets) const;
  // The send key has sealed crypto::confidentialityLimit packets and no update was possible (the
  // peer has not confirmed our phase): seal() refuses until an update goes through.
  bool exhausted() const { return tx_in_phase_ >= crypto::confidentialityLimit(suite_); }
  // Starts a key update of our send direction.
  void initiateUpdate(Instant now);
  // When updateDue() may next become true by time alone; kNever while waiting for confirmation.
  Instant nextUpdateCheck(Duration interval) const;
  // Drops the previous receive key once its grace period is over.
  void expire(Instant now);
  Instant prevExpiry() const { return keys_.hasPrevious() ? prev_until_ : kNever; }

  crypto::CipherSuite suite() const { return suite_; }
  std::uint8_t txPhase() const { return tx_phase_; }
  std::uint64_t keyUpdates() const { return key_updates_; }

 private:
  explicit BasicDataKeys(KeySet keys) : keys_(std::move(keys)) {}
  bool sealAs(bool keepalive, bool control, std::uint32_t receiver_index,
              std::span<std::uint8_t> packet, std::size_t payload_len);
  // The header part of sealing: the next counter, written; nullopt if seal() must refuse.
  std::optional<std::uint64_t> writeHeader(bool keepalive, bool control,
                                           std::uint32_t receiver_index,
                                           std::span<std::uint8_t> packet,
                                           std::size_t payload_len);

  KeySet keys_;  // send key, current / previous (/ next) receive keys
  crypto::CipherSuite suite_ = crypto::CipherSuite::kAes256Gcm;
  // Send direction.
  crypto::TrafficSecret tx_secret_;
  std::uint8_t tx_phase_ = 0;
  bool confirmed_ = false;  // received a packet in our current send phase
  // Receive direction.
  std::uint8_t rx_phase_ = 0;
  bool rx_seen_in_phase_ = false;
  bool rx_any_ = false;
  std::uint64_t tx_counter_ = 0;
  std::uint64_t tx_in_phase_ = 0;
  Instant tx_phase_started_{};
  crypto::TrafficSecret rx_next_secret_;
  Instant prev_until_ = kNever;
  std::uint64_t rx_phase_min_counter_ = 0;
  std::uint64_t rx_highest_ = 0;
  std::uint64_t key_updates_ = 0;
  typename KeySet::Window replay_;
};

// Defined in data_keys.cpp for these key sets only.
extern template class BasicDataKeys<CipherKeySet>;
extern template class BasicDataKeys<CompactKeySet>;

using DataKeys = BasicDataKeys<CipherKeySet>;
using CompactDataKeys = BasicDataKeys<CompactKeySet>;

}  // namespace vpn::session
