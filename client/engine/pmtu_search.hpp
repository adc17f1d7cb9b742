#pragma once
// PmtuSearch: datagram packetization-layer path MTU discovery (DPLPMTUD, RFC 8899) for one
// session's path, in units of inner packet size: the largest inner IP packet whose sealed
// datagram crosses the path. Probes are keepalives padded to the size tried (kPmtuProbe), and
// the peer answers each with a small kPmtuAck naming its token; only an answered probe proves a
// size, so black holes (an ICMP-filtering firewall, a PPPoE or tunnel hop) are found as well.
//
// The search:
//  - starts optimistic: until a probe of the largest size (the TUN MTU) is lost kMaxProbes times
//    in a row, everything up to it may be sent (fragmentable while not proven: provisional()), so
//    the common path (it fits) never shrinks the MTU that TCP learns. The first probe is a small one (`base`): a peer that does not answer
//    it (a build without probes) turns the search off, and the TUN MTU stays what it was;
//  - then probes the largest size; when that is lost, mtu() falls to the largest size proven and
//    a binary search between proven and lost sizes runs until they are within `step`;
//  - searches again after `raise_interval` (probing the current size first, then larger ones),
//    and from scratch when the caller resets it on a new path.
// One probe is outstanding at a time; each is given max(3 x srtt, min_timeout) up to max_timeout.
// I/O-free and single-threaded: the caller sends what poll() asks for and feeds acks back.
// Never throws, never allocates.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/time.hpp"

namespace vpn::client {

// Keepalive plaintext kinds (after the liveness kinds 1 and 2 of peer_session.hpp):
// probe = kind | token (64) | zero padding to the size tried; ack = kind | token | size (16).
inline constexpr std::uint8_t kPmtuProbe = 3;
inline constexpr std::uint8_t kPmtuAck = 4;
inline constexpr std::size_t kPmtuProbeMin = 9;
inline constexpr std::size_t kPmtuAckSize = 11;

class PmtuSearch {
 public:
  enum class State : std::uint8_t { kOff, kSearching, kDone, kUnsupported };

  struct Options {
    std::size_t base = 1152;  // first probe: fits any path that carries IPv6 (1280) with headers
    std::size_t step = 1;     // stop when proven and lost sizes are this close (1: exact)
    int max_probes = 3;       // losses in a row that condemn a size
    Duration min_timeout = milliseconds(100);
    Duration max_timeout = seconds(1);
    Duration raise_interval = seconds(600);  // RFC 8899 PMTU_RAISE_TIMER
  };

  struct Probe {
    std::size_t size;  // inner size: the keepalive plaintext is padded to this
    std::uint64_t token;
  };

  PmtuSearch() = default;
  explicit PmtuSearch(Options o) : options_(o) {}

  // A new path (or the first): search from scratch for sizes up to `max`. off = a path where
  // the transport takes care of sizes (TCP): mtu() is `max` and nothing is probed.
  void reset(Instant now, std::size_t max, bool off);

  // The largest inner packet to send now.
  std::size_t mtu() const { return mtu_; }
  State state() const { return state_; }
  std::string_view stateName() const;
  // The size proven so far (0: none yet).
  std::size_t proven() const { return low_; }
  // While the first search still hopes the TUN MTU fits, a packet of `len` bytes above the base
  // and above what is proven is not known to cross: the caller sends it fragmentable, so nothing
  // is lost to the search (a smaller path fragments it; one that fits never does).
  bool provisional(std::size_t len) const {
    return state_ == State::kSearching && optimistic_ && len > low_ &&
           len > std::min(options_.base, max_);
  }

  // A probe to send now, if one is due (`token` is the caller's next unique token).
  std::optional<Probe> poll(Instant now, std::optional<Duration> srtt, std::uint64_t token);
  // The peer answered the probe `token`; false if it was not ours (or not outstanding).
  bool onAck(Instant now, std::uint64_t token, std::size_t size);
  Instant nextDeadline() const { return deadline_; }

 private:
  void decide(Instant now);
  void lost(Instant now);
  void finish(Instant now);
  std::size_t nextSize() const;

  Options options_{};
  State state_ = State::kOff;
  std::size_t max_ = 0;
  std::size_t mtu_ = 0;
  std::size_t low_ = 0;   // largest size proven (0: none)
  std::size_t high_ = 0;  // smallest size lost kMaxProbes times (max_ + 1: none)
  std::size_t first_ = 0;  // the size that opens a search (base, or mtu_ when raising)
  bool optimistic_ = true;
  bool outstanding_ = false;
  std::size_t probing_ = 0;
  std::uint64_t token_ = 0;
  int losses_ = 0;
  Instant deadline_ = kNever;  // probe timeout, or the next search
};

}  // namespace vpn::client
