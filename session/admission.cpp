#include "session/admission.hpp"

#include <algorithm>
#include <array>

namespace vpn::session {

AdmissionLimiter::AdmissionLimiter(Options options)
    : options_(options),
      by_address_(RateLimiter::Options{options.address_burst, options.address_per_second,
                                       options.max_sources}),
      by_network_(RateLimiter::Options{options.network_burst, options.network_per_second,
                                       options.max_sources}),
      global_tokens_(options.global_burst) {}

void AdmissionLimiter::setOptions(Options options) {
  options_ = options;
  by_address_.setOptions(RateLimiter::Options{options.address_burst, options.address_per_second,
                                              options.max_sources});
  by_network_.setOptions(RateLimiter::Options{options.network_burst, options.network_per_second,
                                              options.max_sources});
  global_tokens_ = std::min(global_tokens_, options.global_burst);
}

protocol::IpAddress AdmissionLimiter::networkOf(const protocol::IpAddress& source) {
  if (source.isV4()) {
    return source;
  }
  std::array<std::uint8_t, 16> b{};
  std::copy_n(source.bytes(), 8, b.begin());
  return protocol::IpAddress::v6(b.data());
}

AdmissionLimiter::Verdict AdmissionLimiter::allow(Instant now, const protocol::IpAddress& source) {
  if (now > global_updated_) {
    global_tokens_ = std::min(options_.global_burst,
                              global_tokens_ + toSeconds(now - global_updated_) *
                                                   options_.global_per_second);
    global_updated_ = now;
  }
  if (global_tokens_ < 1) {
    return Verdict::kGlobal;
  }
  if (!by_address_.allow(now, source)) {
    return Verdict::kAddress;
  }
  if (source.isV6() && !by_network_.allow(now, networkOf(source))) {
    return Verdict::kNetwork;
  }
  global_tokens_ -= 1;
  return Verdict::kAllow;
}

}  // namespace vpn::session
