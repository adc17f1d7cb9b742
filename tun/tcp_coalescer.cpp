#include "tun/tcp_coalescer.hpp"

#include <cstring>

#include "tun/checksum.hpp"

namespace vpn::tun {
namespace {

constexpr std::uint8_t kPsh = 0x08;
// Flags that end merging: FIN, SYN, RST, URG, ECE, CWR (ACK and PSH are fine).
constexpr std::uint8_t kNoMerge = 0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80;

}  // namespace

TcpCoalescer::TcpCoalescer(Write write)
    : write_(std::move(write)), buffers_(new std::uint8_t[kSlots * kMaxPacket]) {
  for (std::size_t i = 0; i < kSlots; ++i) {
    slots_[i].data = buffers_.get() + i * kMaxPacket;
  }
}

bool TcpCoalescer::sameFlow(const Slot& s, std::span<const std::uint8_t> p,
                            const TcpPacketView& v) const {
  if (s.view.v6 != v.v6) {
    return false;
  }
  // Addresses (IPv4 12..19, IPv6 8..39), then the ports at the start of TCP.
  const std::size_t at = v.v6 ? 8 : 12;
  const std::size_t len = v.v6 ? 32 : 8;
  return std::memcmp(s.data + at, p.data() + at, len) == 0 &&
         std::memcmp(s.data + s.view.ip_len, p.data() + v.ip_len, 4) == 0;
}

bool TcpCoalescer::mergeable(const Slot& s, std::span<const std::uint8_t> p,
                             const TcpPacketView& v) const {
  if (s.closed || v.payload == 0 || v.payload > s.gso_size || s.segments >= kMaxSegments ||
      s.length + v.payload > kMaxPacket || v.ip_len != s.view.ip_len ||
      v.tcp_len != s.view.tcp_len) {
    return false;
  }
  const std::uint8_t* a = s.data;
  const std::uint8_t* b = p.data();
  if (v.v6) {
    // Version, traffic class, flow label; hop limit.
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7]) {
      return false;
    }
  } else if (v.ip_len != 20 || a[1] != b[1] || a[8] != b[8] || (a[6] & 0x40) != (b[6] & 0x40)) {
    return false;  // options, TOS, TTL, DF
  }
  const std::uint8_t* ta = a + v.ip_len;
  const std::uint8_t* tb = b + v.ip_len;
  if (getBe32(tb + 4) != s.next_seq) {
    return false;
  }
  // Ack, data offset, flags (but PSH), window, urgent pointer and options must match.
  if (std::memcmp(ta + 8, tb + 8, 5) != 0 || (ta[13] | kPsh) != (tb[13] | kPsh) ||
      std::memcmp(ta + 14, tb + 14, 2) != 0 || std::memcmp(ta + 18, tb + 18, 2) != 0 ||
      std::memcmp(ta + 20, tb + 20, v.tcp_len - 20) != 0) {
    return false;
  }
  return true;
}

void TcpCoalescer::add(std::span<const std::uint8_t> packet) {
  auto v = viewTcp(packet);
  Slot* flow = nullptr;
  if (v) {
    for (std::size_t k = pending_; k-- > 0;) {  // the newest slot of the flow
      Slot& s = slots_[order_[k]];
      if (sameFlow(s, packet, *v)) {
        flow = &s;
        break;
      }
    }
  }
  const bool data = v && v->payload > 0 && (packet[v->ip_len + 13] & kNoMerge) == 0 &&
                    v->ip_len + v->tcp_len + v->payload == packet.size();
  if (!data) {
    if (flow != nullptr) {
      flush();  // keep the flow's order: what is pending goes first
    }
    writeAlone(packet);
    return;
  }
  if (flow != nullptr && mergeable(*flow, packet, *v)) {
    std::memcpy(flow->data + flow->length, packet.data() + v->headers(), v->payload);
    flow->length += v->payload;
    flow->segments++;
    flow->next_seq += static_cast<std::uint32_t>(v->payload);
    const bool psh = (packet[v->ip_len + 13] & kPsh) != 0;
    if (psh) {
      flow->data[flow->view.ip_len + 13] |= kPsh;
    }
    flow->closed = psh || v->payload < flow->gso_size;
    return;
  }
  if (flow != nullptr) {
    flow->closed = true;  // written before the new slot of the same flow
  }
  if (pending_ == kSlots) {
    flush();
  }
  std::size_t free_index = 0;
  while (slots_[free_index].used) {
    ++free_index;
  }
  Slot& s = slots_[free_index];
  s.used = true;
  s.closed = (packet[v->ip_len + 13] & kPsh) != 0;
  s.view = *v;
  s.length = packet.size();
  s.gso_size = v->payload;
  s.segments = 1;
  s.next_seq = getBe32(packet.data() + v->ip_len + 4) + static_cast<std::uint32_t>(v->payload);
  std::memcpy(s.data, packet.data(), packet.size());
  order_[pending_++] = free_index;
}

void TcpCoalescer::flush() {
  for (std::size_t k = 0; k < pending_; ++k) {
    writeSlot(slots_[order_[k]]);
  }
  pending_ = 0;
}

void TcpCoalescer::writeSlot(Slot& s) {
  s.used = false;
  std::array<std::uint8_t, kVnetHeaderSize> hdr{};
  if (s.segments == 1) {
    write_(hdr, std::span<const std::uint8_t>(s.data, s.length));
    return;
  }
  std::uint8_t* ip = s.data;
  const std::size_t l4 = s.length - s.view.ip_len;
  if (s.view.v6) {
    putBe16(ip + 4, static_cast<std::uint16_t>(l4));
  } else {
    putBe16(ip + 2, static_cast<std::uint16_t>(s.length));
    putBe16(ip + 10, 0);
    putBe16(ip + 10, static_cast<std::uint16_t>(
                         ~checksumFold(checksumAdd(std::span<const std::uint8_t>(ip, 20)))));
  }
  const std::size_t addr_at = s.view.v6 ? 8 : 12;
  const std::size_t addr_len = s.view.v6 ? 16 : 4;
  const std::uint64_t pseudo = pseudoHeaderSum(
      std::span<const std::uint8_t>(ip + addr_at, addr_len),
      std::span<const std::uint8_t>(ip + addr_at + addr_len, addr_len), 6,
      static_cast<std::uint32_t>(l4));
  putBe16(ip + s.view.ip_len + 16, checksumFold(pseudo));
  VnetHeader h;
  h.flags = kVnetNeedsCsum;
  h.gso_type = s.view.v6 ? kGsoTcpV6 : kGsoTcpV4;
  h.hdr_len = static_cast<std::uint16_t>(s.view.headers());
  h.gso_size = static_cast<std::uint16_t>(s.gso_size);
  h.csum_start = static_cast<std::uint16_t>(s.view.ip_len);
  h.csum_offset = 16;
  h.write(hdr.data());
  stats_.writes++;
  stats_.segments += s.segments;
  write_(hdr, std::span<const std::uint8_t>(s.data, s.length));
}

void TcpCoalescer::writeAlone(std::span<const std::uint8_t> packet) {
  const std::array<std::uint8_t, kVnetHeaderSize> hdr{};
  write_(hdr, packet);
}

}  // namespace vpn::tun
