// STUN: the header and full message parsers, what a server would do with the message, and the
// error answer built from a header alone (what the rendezvous sends for a broken request).
#include <array>

#include "protocol/stun.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  std::span<const std::uint8_t> in(data, size);
  auto h = protocol::parseStunHeader(in);
  auto m = protocol::parseStun(in);
  if (m.ok()) {
    FUZZ_CHECK(h.ok());
    for (int flags = 0; flags < 8; ++flags) {
      (void)protocol::classifyStunRequest(*m, flags & 1, flags & 2, flags & 4);
    }
  } else if (h.ok()) {
    std::array<std::uint8_t, protocol::kStunMaxBuiltSize> out{};
    std::size_t n = protocol::buildBindingErrorFor(*h, 400, "bad request", out);
    FUZZ_CHECK(n <= out.size());
    if (n != 0) {
      FUZZ_CHECK(protocol::parseStun(std::span<const std::uint8_t>(out.data(), n)).ok());
    }
  }
  return 0;
}
