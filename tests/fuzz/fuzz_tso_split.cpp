// The TUN offloads on random reads: splitTunRead must emit only what fits its output, every TCP
// segment or UDP datagram it cuts from a super-packet must carry valid checksums, and the
// coalescer fed the TCP segments must write super-packets that split back into the same
// segments, byte for byte.
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_input.hpp"
#include "tun/checksum.hpp"
#include "tun/tcp_coalescer.hpp"
#include "tun/tso_split.hpp"
#include "tun/vnet_header.hpp"

namespace {

using namespace vpn;
using Bytes = std::vector<std::uint8_t>;

bool tcpChecksumValid(const Bytes& p) {
  auto v = tun::viewTcp(p);
  if (!v) {
    return true;  // not TCP: nothing to check
  }
  const std::size_t at = v->v6 ? 8 : 12, len = v->v6 ? 16 : 4;
  const std::size_t l4 = v->tcp_len + v->payload;
  std::uint64_t sum = tun::pseudoHeaderSum({&p[at], len}, {&p[at + len], len}, 6,
                                           static_cast<std::uint32_t>(l4));
  return tun::checksumFold(tun::checksumAdd({&p[v->ip_len], l4}, sum)) == 0xffff;
}

bool udpChecksumValid(const Bytes& p) {
  auto v = tun::viewUdp(p);
  if (!v) {
    return false;
  }
  const std::size_t at = v->v6 ? 8 : 12, len = v->v6 ? 16 : 4;
  const std::size_t l4 = 8 + v->payload;
  std::uint64_t sum = tun::pseudoHeaderSum({&p[at], len}, {&p[at + len], len}, 17,
                                           static_cast<std::uint32_t>(l4));
  return tun::checksumFold(tun::checksumAdd({&p[v->ip_len], l4}, sum)) == 0xffff;
}

std::vector<Bytes> split(std::span<const std::uint8_t> read, int& count) {
  std::vector<Bytes> out;
  static Bytes buf(1500);
  count = tun::splitTunRead(read, buf, [&](std::size_t len) {
    FUZZ_CHECK(len <= buf.size());
    out.emplace_back(buf.begin(), buf.begin() + static_cast<long>(len));
  });
  FUZZ_CHECK(count < 0 ? out.empty() : out.size() == static_cast<std::size_t>(count));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int count = 0;
  auto segments = split({data, size}, count);
  if (count <= 1 || size < tun::kVnetHeaderSize) {
    return 0;
  }
  if ((data[1] & 0x7f) == tun::kGsoUdpL4) {
    // A UDP super-packet was cut: each datagram is well-formed with a valid checksum.
    for (const auto& s : segments) {
      FUZZ_CHECK(udpChecksumValid(s));
    }
    return 0;
  }
  // A super-packet was cut: each segment is a well-formed TCP packet with valid checksums.
  for (const auto& s : segments) {
    FUZZ_CHECK(tun::viewTcp(s).has_value());
    FUZZ_CHECK(tcpChecksumValid(s));
  }
  // Coalesced again, the writes split back into the same segments (the coalescer may keep some
  // apart, but never changes or reorders a byte).
  // One coalescer for the process: its 1 MiB of buffers would cost more than the input.
  static std::vector<Bytes> again;
  static tun::TcpCoalescer c([](std::span<const std::uint8_t> h, std::span<const std::uint8_t> p) {
    Bytes read(h.begin(), h.end());
    read.insert(read.end(), p.begin(), p.end());
    int n = 0;
    for (auto& s : split(read, n)) {
      again.push_back(std::move(s));
    }
    FUZZ_CHECK(n > 0);
  });
  again.clear();
  for (const auto& s : segments) {
    c.add(s);
  }
  c.flush();
  FUZZ_CHECK(again == segments);
  return 0;
}
