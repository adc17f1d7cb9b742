#include "session/rate_limiter.hpp"

#include <algorithm>
#include <iterator>

namespace vpn::session {

void RateLimiter::refill(Bucket& b, Instant now) const {
  if (now > b.updated) {
    b.tokens = std::min(options_.burst, b.tokens + toSeconds(now - b.updated) * options_.per_second);
    b.updated = now;
  }
}

bool RateLimiter::allow(Instant now, const protocol::IpAddress& source) {
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_sources) {
      for (auto e = buckets_.begin(); e != buckets_.end();) {
        refill(e->second, now);
        e = e->second.tokens >= options_.burst ? buckets_.erase(e) : std::next(e);
      }
      if (buckets_.size() >= options_.max_sources) {
        buckets_.clear();
      }
    }
    it = buckets_.emplace(source, Bucket{options_.burst, now}).first;
  }
  refill(it->second, now);
  if (it->second.tokens < 1) {
    return false;
  }
  it->second.tokens -= 1;
  return true;
}

}  // namespace vpn::session
