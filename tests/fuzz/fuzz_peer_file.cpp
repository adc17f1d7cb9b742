// The peer file: any text either parses to a config or gives errors with positions; never a
// crash or an exception.
#include "config/load.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  auto r = config::parsePeerConfig(fuzz::asText({data, size}), "/etc/vpnpeer/fuzz.toml");
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().empty());
    for (const auto& e : r.error()) {
      FUZZ_CHECK(!e.toString().empty());
    }
  }
  return 0;
}
