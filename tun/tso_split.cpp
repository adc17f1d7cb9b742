#include "tun/tso_split.hpp"

#include <algorithm>
#include <cstring>

#include "tun/checksum.hpp"
#include "tun/vnet_header.hpp"

namespace vpn::tun {
namespace {

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kCwr = 0x80;

}  // namespace

bool completeChecksum(std::span<std::uint8_t> pkt, const VnetHeader& h) {
  if ((h.flags & kVnetNeedsCsum) == 0) {
    return true;
  }
  const std::size_t at = static_cast<std::size_t>(h.csum_start) + h.csum_offset;
  if (h.csum_start >= pkt.size() || at + 2 > pkt.size()) {
    return false;
  }
  std::uint16_t sum = checksumFold(checksumAdd(pkt.subspan(h.csum_start)));
  putBe16(pkt.data() + at, static_cast<std::uint16_t>(~sum));
  return true;
}

namespace {

// A segment's IP header: its length and, for IPv4, its id and header checksum.
void setIpLengthAndId(std::uint8_t* o, bool v6, std::size_t ip_len, std::size_t total,
                      std::uint16_t id) {
  if (v6) {
    putBe16(o + 4, static_cast<std::uint16_t>(total - 40));
    return;
  }
  putBe16(o + 2, static_cast<std::uint16_t>(total));
  putBe16(o + 4, id);
  putBe16(o + 10, 0);
  putBe16(o + 10, static_cast<std::uint16_t>(
                      ~checksumFold(checksumAdd(std::span<const std::uint8_t>(o, ip_len)))));
}

// A UDP super-packet (USO): each gso_size piece of the payload becomes its own datagram with
// the same headers, its own lengths, IPv4 id and a full UDP checksum (0 is sent as 0xffff).
int splitUdp(std::span<const std::uint8_t> pkt, const VnetHeader& h, std::span<std::uint8_t> out,
             const EmitSegment& emit) {
  auto view = viewUdp(pkt);
  if (!view || h.gso_size == 0 || view->payload == 0) {
    return -1;
  }
  const std::size_t hdrs = view->ip_len + 8;
  const std::size_t gso = h.gso_size;
  if (hdrs + std::min(gso, view->payload) > out.size()) {
    return -1;
  }
  const std::uint8_t* ip = pkt.data();
  const std::uint16_t first_id = view->v6 ? 0 : getBe16(ip + 4);
  const std::size_t addr_len = view->v6 ? 16 : 4;
  const std::size_t addr_at = view->v6 ? 8 : 12;
  int count = 0;
  for (std::size_t off = 0; off < view->payload; off += gso) {
    const std::size_t seg = std::min(gso, view->payload - off);
    std::uint8_t* o = out.data();
    std::memcpy(o, ip, hdrs);
    std::memcpy(o + hdrs, ip + hdrs + off, seg);
    const std::size_t total = hdrs + seg;
    setIpLengthAndId(o, view->v6, view->ip_len, total, static_cast<std::uint16_t>(first_id + count));
    std::uint8_t* u = o + view->ip_len;
    const auto l4 = static_cast<std::uint32_t>(8 + seg);
    putBe16(u + 4, static_cast<std::uint16_t>(l4));
    putBe16(u + 6, 0);
    std::uint64_t sum = pseudoHeaderSum(std::span<const std::uint8_t>(o + addr_at, addr_len),
                                        std::span<const std::uint8_t>(o + addr_at + addr_len, addr_len),
                                        17, l4);
    sum = checksumAdd(std::span<const std::uint8_t>(u, l4), sum);
    auto csum = static_cast<std::uint16_t>(~checksumFold(sum));
    putBe16(u + 6, csum == 0 ? 0xffff : csum);
    emit(total);
    ++count;
  }
  return count;
}

}  // namespace

int splitTunRead(std::span<const std::uint8_t> read, std::span<std::uint8_t> out,
                 const EmitSegment& emit) {
  if (read.size() < kVnetHeaderSize) {
    return -1;
  }
  const VnetHeader h = VnetHeader::read(read.data());
  const auto pkt = read.subspan(kVnetHeaderSize);
  const std::uint8_t type = h.gso_type & static_cast<std::uint8_t>(~kGsoEcn);
  if (type == kGsoNone) {
    if (pkt.size() > out.size()) {
      return -1;
    }
    std::memcpy(out.data(), pkt.data(), pkt.size());
    if (!completeChecksum(out.first(pkt.size()), h)) {
      return -1;
    }
    emit(pkt.size());
    return 1;
  }
  if (type == kGsoUdpL4) {
    return splitUdp(pkt, h, out, emit);
  }
  if (type != kGsoTcpV4 && type != kGsoTcpV6) {
    return -1;
  }
  auto view = viewTcp(pkt);
  if (!view || view->v6 != (type == kGsoTcpV6) || h.gso_size == 0) {
    return -1;
  }
  const std::size_t hdrs = view->headers();
  const std::size_t gso = h.gso_size;
  if (hdrs + std::min(gso, view->payload) > out.size()) {
    return -1;
  }
  const std::uint8_t* ip = pkt.data();
  const std::uint8_t* tcp = ip + view->ip_len;
  const std::uint16_t first_id = view->v6 ? 0 : getBe16(ip + 4);
  const std::uint32_t first_seq = getBe32(tcp + 4);
  const std::uint8_t flags = tcp[13];
  const std::size_t addr_len = view->v6 ? 16 : 4;
  const std::size_t addr_at = view->v6 ? 8 : 12;
  std::size_t payload = view->payload;
  int count = 0;
  for (std::size_t off = 0; off < payload || (payload == 0 && count == 0); off += gso) {
    const std::size_t seg = std::min(gso, payload - off);
    const bool last = off + seg >= payload;
    std::uint8_t* o = out.data();
    std::memcpy(o, ip, hdrs);
    std::memcpy(o + hdrs, ip + hdrs + off, seg);
    const std::size_t total = hdrs + seg;
    setIpLengthAndId(o, view->v6, view->ip_len, total, static_cast<std::uint16_t>(first_id + count));
    std::uint8_t* t = o + view->ip_len;
    putBe32(t + 4, first_seq + static_cast<std::uint32_t>(off));
    std::uint8_t f = flags;
    if (!last) {
      f = static_cast<std::uint8_t>(f & ~(kFin | kPsh));
    }
    if (count > 0) {
      f = static_cast<std::uint8_t>(f & ~kCwr);
    }
    t[13] = f;
    putBe16(t + 16, 0);
    const auto l4 = static_cast<std::uint32_t>(view->tcp_len + seg);
    std::uint64_t sum = pseudoHeaderSum(std::span<const std::uint8_t>(o + addr_at, addr_len),
                                        std::span<const std::uint8_t>(o + addr_at + addr_len, addr_len),
                                        6, l4);
    sum = checksumAdd(std::span<const std::uint8_t>(t, l4), sum);
    putBe16(t + 16, static_cast<std::uint16_t>(~checksumFold(sum)));
    emit(total);
    ++count;
    if (payload == 0) {
      break;
    }
  }
  return count;
}

}  // namespace vpn::tun
