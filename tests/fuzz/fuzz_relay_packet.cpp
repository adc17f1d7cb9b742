// Relay headers and the family of what they carry, and sealed (network key) packets: the layout
// parse, and opening under a fixed key (which must fail for anything the fuzzer did not seal, and
// round-trip for what it did).
#include <array>

#include "crypto/network_key.hpp"
#include "protocol/packet_type.hpp"
#include "protocol/relay_packet.hpp"
#include "protocol/sealed_packet.hpp"
#include "session/outer_seal.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  static const std::array<std::uint8_t, 32> kRaw{1, 2, 3};
  static session::OuterSeal seal(crypto::NetworkKey(crypto::NetworkKey::Source::kFile, kRaw));
  fuzz::FuzzInput f(data, size);
  const bool seal_first = (f.byte() & 1) != 0;
  auto rest = f.all();
  if (auto channel = protocol::parseRelayChannel(rest)) {
    FUZZ_CHECK(*channel != 0);
    (void)protocol::classify(protocol::relayInner(rest));
  }
  std::array<std::uint8_t, protocol::kMaxSealedPacket + 64> buf{};
  std::size_t n = rest.size() < buf.size() ? rest.size() : buf.size();
  std::copy(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n), buf.begin());
  if (seal_first) {
    std::array<std::uint8_t, protocol::kMaxSealedPacket> sealed{};
    std::size_t m = seal.seal(std::span<const std::uint8_t>(buf.data(), n), sealed);
    if (m != 0) {
      auto inner = seal.open(std::span<std::uint8_t>(sealed.data(), m));
      FUZZ_CHECK(inner.size() == n && std::equal(inner.begin(), inner.end(), buf.begin()));
    }
    return 0;
  }
  (void)protocol::parseSealed(std::span<std::uint8_t>(buf.data(), n));
  (void)seal.open(std::span<std::uint8_t>(buf.data(), n));
  return 0;
}
