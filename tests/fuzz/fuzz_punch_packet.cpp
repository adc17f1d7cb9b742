// Punch probes and replies. Round trip: a probe that parses writes back the same bytes.
#include <array>

#include "protocol/punch_packet.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  std::span<const std::uint8_t> in(data, size);
  auto p = protocol::parseProbe(in);
  if (p) {
    std::array<std::uint8_t, protocol::kProbeSize> out{};
    protocol::writeProbe(*p, out);
    FUZZ_CHECK(std::equal(out.begin(), out.end(), in.begin()));
  }
  return 0;
}
