// Inner packets above the path MTU (protocol/inner_mtu.hpp) on random bytes: the first two bytes
// are the MTU, the rest the packet. Invariants: an ICMP error fits its buffer, says its own
// length, and carries valid checksums; MSS clamping changes at most four bytes (the MSS value
// and the TCP checksum) and keeps a valid checksum valid.
#include <algorithm>
#include <array>
#include <vector>

#include "protocol/checksum.hpp"
#include "protocol/inner_mtu.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using namespace vpn;
using Bytes = std::vector<std::uint8_t>;

// The L4 checksum over the rest of the buffer from `l4` (as clampMss sees it), folded.
std::uint16_t l4Sum(const Bytes& p, std::size_t l4, bool v6, std::uint8_t proto) {
  const std::size_t at = v6 ? 8 : 12, len = v6 ? 16 : 4;
  std::uint64_t sum = 0;
  if (v6 || proto != 1) {
    sum = protocol::pseudoHeaderSum({&p[at], len}, {&p[at + len], len}, proto,
                                    static_cast<std::uint32_t>(p.size() - l4));
  }
  return protocol::checksumFold(protocol::checksumAdd({&p[l4], p.size() - l4}, sum));
}

void checkIcmp(std::span<const std::uint8_t> out) {
  FUZZ_CHECK(out.size() >= 28);
  Bytes p(out.begin(), out.end());
  if ((p[0] >> 4) == 4) {
    FUZZ_CHECK(p.size() <= 576);
    FUZZ_CHECK(protocol::getBe16(&p[2]) == p.size());
    FUZZ_CHECK(protocol::checksumFold(protocol::checksumAdd({p.data(), 20})) == 0xFFFF);
    FUZZ_CHECK(p[20] == 3 && p[21] == 4);
    FUZZ_CHECK(l4Sum(p, 20, false, 1) == 0xFFFF);
  } else {
    FUZZ_CHECK((p[0] >> 4) == 6 && p.size() >= 48 && p.size() <= protocol::kIpv6MinMtu);
    FUZZ_CHECK(protocol::getBe16(&p[4]) + 40u == p.size());
    FUZZ_CHECK(p[40] == 2 && protocol::getBe32(&p[44]) >= protocol::kIpv6MinMtu);
    FUZZ_CHECK(l4Sum(p, 40, true, 58) == 0xFFFF);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::size_t mtu = in.u16();
  auto packet = in.all();
  (void)protocol::tooBigAction(packet);
  std::array<std::uint8_t, protocol::kIpv6MinMtu> out{};
  if (std::size_t n = protocol::buildTooBig(packet, mtu, out)) {
    FUZZ_CHECK(n <= out.size());
    checkIcmp(std::span<const std::uint8_t>(out).first(n));
  }
  Bytes p(packet.begin(), packet.end());
  const bool v6 = !p.empty() && (p[0] >> 4) == 6;
  const std::size_t l4 = v6 ? 40 : (p.empty() ? 0 : static_cast<std::size_t>(p[0] & 0x0F) * 4);
  const bool tcp = l4 >= 20 && p.size() >= l4 + 20 && p[v6 ? 6 : 9] == 6;
  const bool valid_before = tcp && l4Sum(p, l4, v6, 6) == 0xFFFF;
  if (protocol::clampMss(p, mtu)) {
    FUZZ_CHECK(tcp);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      changed += p[i] != packet[i] ? 1u : 0u;
    }
    FUZZ_CHECK(changed <= 4);  // two bytes of MSS, two of checksum
    FUZZ_CHECK(!valid_before || l4Sum(p, l4, v6, 6) == 0xFFFF);
  } else {
    FUZZ_CHECK(std::equal(p.begin(), p.end(), packet.begin()));
  }
  return 0;
}
