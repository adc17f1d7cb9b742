// Control messages between peers and the rendezvous (registration, lookup, introduction, relay).
// Round trip: a message that parses serializes to bytes that parse to a message of the same kind
// and that serialize to the same bytes again.
#include <vector>

#include "protocol/data_packet.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  auto m = protocol::parseControl(std::span<const std::uint8_t>(data, size));
  if (!m.ok()) {
    return 0;
  }
  std::vector<std::uint8_t> a(protocol::kMaxControlPayload + 256), b(a.size());
  std::size_t na = protocol::serializeControl(*m, a);
  if (na == 0) {
    return 0;
  }
  auto again = protocol::parseControl(std::span<const std::uint8_t>(a.data(), na));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->index() == m->index());
  std::size_t nb = protocol::serializeControl(*again, b);
  FUZZ_CHECK(nb == na && std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na),
                                    b.begin()));
  return 0;
}
