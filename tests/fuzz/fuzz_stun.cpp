// STUN: the header and full message parsers, what a server would do with the message, and the
// error answer built from a header alone (what the rendezvous sends for a broken request), with
// and without classic (RFC 3489) messages allowed; the answer to any message parses back.
#include <array>
#include <optional>

#include "protocol/stun.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

// One pass, with or without classic (RFC 3489) messages allowed, as the rendezvous parses them.
void once(std::span<const std::uint8_t> in, bool classic) {
  using namespace vpn;
  auto h = protocol::parseStunHeader(in, classic);
  auto m = protocol::parseStun(in, classic);
  std::array<std::uint8_t, protocol::kStunMaxBuiltSize> out{};
  if (m.ok()) {
    FUZZ_CHECK(h.ok());
    FUZZ_CHECK(classic || !m->classic);
    for (int flags = 0; flags < 8; ++flags) {
      (void)protocol::classifyStunRequest(*m, flags & 1, flags & 2, flags & 4);
    }
    // The answer to it parses back, as the same dialect.
    protocol::Endpoint src(*protocol::IpAddress::parse("192.0.2.1"), 4242);
    std::size_t n = protocol::buildBindingResponse(*m, src, src, std::nullopt, out);
    FUZZ_CHECK(n != 0 && n <= out.size());
    auto back = protocol::parseStun(std::span<const std::uint8_t>(out.data(), n), true);
    FUZZ_CHECK(back.ok() && back->classic == m->classic);
  } else if (h.ok()) {
    std::size_t n = protocol::buildBindingErrorFor(*h, 400, "bad request", out);
    FUZZ_CHECK(n <= out.size());
    if (n != 0) {
      FUZZ_CHECK(protocol::parseStun(std::span<const std::uint8_t>(out.data(), n), classic).ok());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  once(in, false);
  once(in, true);
  return 0;
}
