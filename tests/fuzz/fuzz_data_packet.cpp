// Data, keepalive and sealed control headers, and the inner IP packet's addresses (what the data
// path reads before and after opening). Round trip: a header that parses writes back the same
// 8 bytes (the low 24 bits of the counter).
#include <array>

#include "protocol/data_packet.hpp"
#include "protocol/inner_ip.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  std::span<const std::uint8_t> in(data, size);
  if (auto h = protocol::parseSealedHeader(in)) {
    std::array<std::uint8_t, protocol::kDataHeaderSize> out{};
    protocol::writeDataHeader(*h, out);
    FUZZ_CHECK(std::equal(out.begin(), out.end(), in.begin()));
    if (auto d = protocol::parseDataHeader(in)) {
      FUZZ_CHECK(d->receiver_index == h->receiver_index && d->counter == h->counter);
    }
  }
  (void)protocol::parseInnerAddresses(in);
  return 0;
}
