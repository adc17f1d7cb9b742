#include "crypto/random.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vpn::crypto {

void randomBytes(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    std::size_t chunk = out.size() < static_cast<std::size_t>(INT_MAX) ? out.size() : INT_MAX;
    if (RAND_bytes(out.data(), static_cast<int>(chunk)) != 1) {
      char reason[256];
      ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
      std::fprintf(stderr, "fatal: the system random number generator failed (%s); aborting\n",
                   reason);
      std::abort();
    }
    out = out.subspan(chunk);
  }
}

std::uint32_t randomU32() {
  std::uint8_t b[4];
  randomBytes(b);
  std::uint32_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

std::uint64_t randomU64() {
  std::uint8_t b[8];
  randomBytes(b);
  std::uint64_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

}  // namespace vpn::crypto
