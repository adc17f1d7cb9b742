#pragma once
// RateLimiter: a token bucket per source address, for work that unauthenticated packets can make
// us do (starting a TLS handshake). The table is bounded: when full, idle (refilled) entries are
// evicted first, then the whole table is cleared, which errs on the side of letting a source
// through rather than growing memory under a spoofed-source flood.
// Single-threaded; allocates only when a new source address appears.
#include <cstddef>
#include <unordered_map>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::session {

class RateLimiter {
 public:
  struct Options {
    double burst = 8;
    double per_second = 2;
    std::size_t max_sources = 1024;
  };
  RateLimiter() : RateLimiter(Options{}) {}
  explicit RateLimiter(Options options) : options_(options) {}

  // Takes one token for `source`; false if its bucket is empty.
  bool allow(Instant now, const protocol::IpAddress& source);
  // New limits (a reload); the buckets stay, a lower burst caps them at their next refill.
  void setOptions(Options options) { options_ = options; }

 private:
  struct Bucket {
    double tokens = 0;
    Instant updated{};
  };
  void refill(Bucket& b, Instant now) const;

  Options options_;
  std::unordered_map<protocol::IpAddress, Bucket, protocol::IpAddressHash> buckets_;
};

}  // namespace vpn::session
