#pragma once
// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts the process if the RNG
// fails: a VPN must not continue with predictable indices or keys. Thread-safe.
#include <cstdint>
#include <span>

namespace vpn::crypto {

void randomBytes(std::span<std::uint8_t> out);
std::uint32_t randomU32();
std::uint64_t randomU64();

}  // namespace vpn::crypto
