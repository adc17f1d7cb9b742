// The rendezvous file: any text either parses or gives errors; never a crash or an exception.
#include "config/rendezvous_config.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  auto r = config::parseRendezvousConfig(fuzz::asText({data, size}), "/etc/vpnpeer/rv.toml");
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().empty());
  }
  return 0;
}
