#include "session/cookie.hpp"

#include <algorithm>

#include "base/byte_io.hpp"
#include "crypto/hmac.hpp"
#include "crypto/random.hpp"

namespace vpn::session {

void CookieMaker::rotate(Instant now) {
  // Secrets change at fixed epochs counted from the first use, so a cookie made in epoch e passes
  // until epoch e + 2 begins, however seldom we are called.
  if (!started_) {
    started_ = true;
    origin_ = now;
    epoch_ = 0;
    crypto::randomBytes(current_);
    crypto::randomBytes(previous_);
    return;
  }
  if (now < origin_) {
    return;
  }
  auto epoch = static_cast<std::uint64_t>((now - origin_) / rotation_);
  if (epoch == epoch_) {
    return;
  }
  if (epoch == epoch_ + 1) {
    previous_ = current_;
  } else {
    crypto::randomBytes(previous_);
  }
  crypto::randomBytes(current_);
  epoch_ = epoch;
}

protocol::Cookie CookieMaker::compute(const Secret& secret, const protocol::Endpoint& from,
                                      std::uint32_t index) {
  std::array<std::uint8_t, 1 + 16 + 2 + 4> data{};
  ByteWriter w(data);
  w.u8(from.address().isV4() ? 4 : 6);
  w.bytes({from.address().bytes(), from.address().size()});
  w.u16(from.port());
  w.u32(index);
  std::array<std::uint8_t, 32> mac{};
  crypto::hmacSha256(secret, w.written(), mac);
  protocol::Cookie c{};
  std::copy_n(mac.begin(), c.size(), c.begin());
  return c;
}

protocol::Cookie CookieMaker::make(Instant now, const protocol::Endpoint& from,
                                   std::uint32_t index) {
  rotate(now);
  return compute(current_, from, index);
}

bool CookieMaker::check(Instant now, const protocol::Endpoint& from, std::uint32_t index,
                        std::span<const std::uint8_t> cookie) {
  rotate(now);
  if (cookie.size() != protocol::kCookieSize) {
    return false;
  }
  protocol::Cookie a = compute(current_, from, index);
  protocol::Cookie b = compute(previous_, from, index);
  // Both compared, so the time taken does not say which secret matched.
  bool ok_a = crypto::constantTimeEqual(a, cookie);
  bool ok_b = crypto::constantTimeEqual(b, cookie);
  return ok_a || ok_b;
}

}  // namespace vpn::session
