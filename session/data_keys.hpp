#pragma once
// DataKeys: the data-channel keys of one session in both directions, with QUIC-style key updates
// (RFC 9001 section 6) on a one-bit key phase.
//
// Counters run on across key phases (they are never reset), so one replay window covers a
// direction and a (key, counter) pair is never reused. To update, a side steps its send secret
// with crypto::nextSecret and flips the phase bit. A receiver that sees the other phase with a
// counter above the lowest counter of its current phase tries the precomputed next key; on success
// it rotates its receive keys and, if it had not updated yet, its send key too. The previous
// receive key stays for a grace period so reordered old-phase packets still open. A side starts
// another update only after it received a packet in its current send phase, so the two sides are
// never more than one generation apart and simultaneous updates converge.
//
// Per-packet calls (seal, open) don't allocate and don't throw, except at the rare moment a key
// update derives a new cipher. Single-threaded. Owned by a PeerSession.
#include <cstdint>
#include <memory>
#include <span>

#include "base/time.hpp"
#include "crypto/aead.hpp"
#include "crypto/key_schedule.hpp"
#include "crypto/replay_window.hpp"
#include "protocol/data_packet.hpp"

namespace vpn::session {

class DataKeys {
 public:
  enum class OpenStatus { kOk, kReplay, kAuthFailed };
  struct OpenResult {
    OpenStatus status = OpenStatus::kAuthFailed;
    bool newest = false;   // the counter is the highest accepted so far (safe to roam on)
    bool rotated = false;  // this packet moved us to the peer's new key phase
  };

  // nullptr if a cipher could not be made. is_client selects which exported secret we send with.
  static std::unique_ptr<DataKeys> create(crypto::CipherSuite suite,
                                          const crypto::SessionSecrets& secrets, bool is_client,
                                          Instant now);
  ~DataKeys();

  // Seals packet = [header | payload_len bytes | tag] in place, writing the header with the next
  // counter and the current phase. packet must hold kDataOverhead + payload_len bytes.
  bool seal(bool keepalive, std::uint32_t receiver_index, std::span<std::uint8_t> packet,
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

  // True if we may and should start a key update now.
  bool updateDue(Instant now, Duration interval, std::uint64_t max_packets) const;
  // Starts a key update of our send direction.
  void initiateUpdate(Instant now);
  // When updateDue() may next become true by time alone; kNever while waiting for confirmation.
  Instant nextUpdateCheck(Duration interval) const;
  // Drops the previous receive key once its grace period is over.
  void expire(Instant now);
  Instant prevExpiry() const { return rx_prev_ ? prev_until_ : kNever; }

  crypto::CipherSuite suite() const { return suite_; }
  std::uint8_t txPhase() const { return tx_phase_; }
  std::uint64_t keyUpdates() const { return key_updates_; }

 private:
  DataKeys() = default;
  bool sealAs(bool keepalive, bool control, std::uint32_t receiver_index,
              std::span<std::uint8_t> packet, std::size_t payload_len);

  crypto::CipherSuite suite_ = crypto::CipherSuite::kAes256Gcm;
  // Send direction.
  crypto::TrafficSecret tx_secret_;
  std::unique_ptr<crypto::AeadCipher> tx_;
  std::uint8_t tx_phase_ = 0;
  std::uint64_t tx_counter_ = 0;
  std::uint64_t tx_in_phase_ = 0;
  Instant tx_phase_started_{};
  bool confirmed_ = false;  // received a packet in our current send phase
  // Receive direction.
  std::uint8_t rx_phase_ = 0;
  std::unique_ptr<crypto::AeadCipher> rx_cur_;
  std::unique_ptr<crypto::AeadCipher> rx_next_;
  crypto::TrafficSecret rx_next_secret_;
  std::unique_ptr<crypto::AeadCipher> rx_prev_;
  Instant prev_until_ = kNever;
  bool rx_seen_in_phase_ = false;
  std::uint64_t rx_phase_min_counter_ = 0;
  crypto::ReplayWindow replay_;
  bool rx_any_ = false;
  std::uint64_t rx_highest_ = 0;
  std::uint64_t key_updates_ = 0;
};

}  // namespace vpn::session
