// Certificates as DER: what we read from a peer's certificate (names, addresses and prefix
// lengths, role, validity) through our private extension's parser.
#include "crypto/internal/openssl_util.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)vpn::crypto::internal::identityFromDer(std::span<const std::uint8_t>(data, size));
  return 0;
}
