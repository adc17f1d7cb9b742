#pragma once
// HMAC-SHA256 (RFC 2104) over caller-owned buffers, for authenticating punch probes with the
// introduction's punch key, and a constant-time comparison for checking such tags.
// Never allocates on the caller's side and never throws; aborts the process if OpenSSL fails
// (it cannot, for valid spans). Thread-safe: no shared state.
#include <cstddef>
#include <cstdint>
#include <span>

namespace vpn::crypto {

void hmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                std::span<std::uint8_t, 32> out);

// True if a and b have the same length and contents; the time taken depends only on the length.
bool constantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace vpn::crypto
