#pragma once
// AdmissionLimiter: how many new TLS handshakes a responder starts, counted per source address
// (an IPv4 /32 or a whole IPv6 address), per IPv6 /64 (one IPv6 host usually owns a whole /64 and
// can send from any address in it), and in total. A source passes only if each of its buckets
// has a token; the first empty one is named, so each limit has its own drop counter.
//
// Meant to run after a cookie check, when the source address is proven: a spoofed flood never
// reaches it. Bounded memory: each table holds at most `max_sources` buckets (see RateLimiter).
// Single-threaded; allocates only when a new source or network appears; never throws except
// std::bad_alloc.
#include <cstddef>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"
#include "session/rate_limiter.hpp"

namespace vpn::session {

class AdmissionLimiter {
 public:
  struct Options {
    double address_burst = 8;
    double address_per_second = 2;
    double network_burst = 32;
    double network_per_second = 8;
    double global_burst = 200;
    double global_per_second = 100;
    std::size_t max_sources = 4096;
  };
  enum class Verdict { kAllow, kAddress, kNetwork, kGlobal };

  AdmissionLimiter() : AdmissionLimiter(Options{}) {}
  explicit AdmissionLimiter(Options options);

  Verdict allow(Instant now, const protocol::IpAddress& source);
  // New limits (a reload); the buckets and their tokens stay.
  void setOptions(Options options);

  // The /64 of an IPv6 source (the address part after it zeroed).
  static protocol::IpAddress networkOf(const protocol::IpAddress& source);

 private:
  Options options_;
  RateLimiter by_address_;
  RateLimiter by_network_;
  double global_tokens_;
  Instant global_updated_{};
};

}  // namespace vpn::session
