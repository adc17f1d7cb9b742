#pragma once
// CookieMaker: stateless proof that a handshake's sender receives at its source address. A
// responder that will not spend state on an unvalidated source answers its HELLO with a cookie
// (HMAC-SHA256 of the source address, port and the sender's index under a secret, cut to 16
// bytes); a retry that echoes it proves the source and may start TLS. The secret is replaced at
// every multiple of `rotation` since the first use, and cookies made under the previous one still
// pass, so a cookie lives between one and two rotations and the responder keeps nothing per
// source.
//
// Single-threaded; never throws; allocates nothing. Secrets come from the OS RNG (crypto/random).
#include <array>
#include <cstdint>
#include <span>

#include "base/time.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::session {

class CookieMaker {
 public:
  explicit CookieMaker(Duration rotation = seconds(120)) : rotation_(rotation) {}

  protocol::Cookie make(Instant now, const protocol::Endpoint& from, std::uint32_t index);
  // True if `cookie` was made for (from, index) under the current or the previous secret.
  bool check(Instant now, const protocol::Endpoint& from, std::uint32_t index,
             std::span<const std::uint8_t> cookie);

 private:
  using Secret = std::array<std::uint8_t, 32>;
  void rotate(Instant now);
  static protocol::Cookie compute(const Secret& secret, const protocol::Endpoint& from,
                                  std::uint32_t index);

  Duration rotation_;
  bool started_ = false;
  Instant origin_{};
  std::uint64_t epoch_ = 0;
  Secret current_{};
  Secret previous_{};
};

}  // namespace vpn::session
