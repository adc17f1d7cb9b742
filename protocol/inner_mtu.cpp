#include "protocol/inner_mtu.hpp"

#include <algorithm>
#include <cstring>

#include "protocol/checksum.hpp"

namespace vpn::protocol {

namespace {

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::size_t kIcmpv4Quote = 576;  // RFC 1812 4.3.2.3: the error, at most this long

std::uint16_t finish(std::uint64_t sum) {
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

bool v4Header(std::span<const std::uint8_t> p, std::size_t& ihl) {
  if (p.size() < 20 || (p[0] >> 4) != 4) {
    return false;
  }
  ihl = static_cast<std::size_t>(p[0] & 0x0F) * 4;
  return ihl >= 20 && ihl <= p.size();
}

bool v6Header(std::span<const std::uint8_t> p) { return p.size() >= 40 && (p[0] >> 4) == 6; }

bool unicastV4Source(const std::uint8_t* a) {
  std::uint32_t v = getBe32(a);
  return v != 0 && (a[0] & 0xF0) != 0xE0 && v != 0xFFFFFFFFu;
}

bool unicastV6Source(const std::uint8_t* a) {
  static constexpr std::uint8_t kZero[16] = {};
  return a[0] != 0xFF && std::memcmp(a, kZero, 16) != 0;
}

// ICMPv4 error types (RFC 792, RFC 1812): unreachable, source quench, redirect, time exceeded,
// parameter problem.
bool icmpv4Error(std::uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

}  // namespace

TooBigAction tooBigAction(std::span<const std::uint8_t> packet) {
  std::size_t ihl = 0;
  if (v4Header(packet, ihl)) {
    bool df = (packet[6] & 0x40) != 0;
    return df ? TooBigAction::kRefuse : TooBigAction::kFragmentOuter;
  }
  if (v6Header(packet)) {
    return packet.size() <= kIpv6MinMtu ? TooBigAction::kFragmentOuter : TooBigAction::kRefuse;
  }
  return TooBigAction::kDrop;
}

std::size_t buildTooBig(std::span<const std::uint8_t> packet, std::size_t mtu,
                        std::span<std::uint8_t> out) {
  std::size_t ihl = 0;
  if (v4Header(packet, ihl)) {
    bool later_fragment = (getBe16(&packet[6]) & 0x1FFF) != 0;
    if (later_fragment || !unicastV4Source(&packet[12])) {
      return 0;
    }
    if (packet[9] == kProtoIcmp && packet.size() > ihl && icmpv4Error(packet[ihl])) {
      return 0;
    }
    std::size_t quote = std::min(packet.size(), kIcmpv4Quote - 28);
    std::size_t total = 28 + quote;
    if (out.size() < total) {
      return 0;
    }
    std::uint8_t* ip = out.data();
    std::memset(ip, 0, 28);
    ip[0] = 0x45;
    putBe16(ip + 2, static_cast<std::uint16_t>(total));
    ip[8] = 64;  // TTL
    ip[9] = kProtoIcmp;
    std::memcpy(ip + 12, &packet[16], 4);  // from the destination the packet could not reach
    std::memcpy(ip + 16, &packet[12], 4);
    putBe16(ip + 10, finish(checksumAdd(std::span<const std::uint8_t>(ip, 20))));
    std::uint8_t* icmp = ip + 20;
    icmp[0] = 3;  // destination unreachable
    icmp[1] = 4;  // fragmentation needed and DF set
    putBe16(icmp + 6, static_cast<std::uint16_t>(std::min<std::size_t>(mtu, 0xFFFF)));
    std::memcpy(icmp + 8, packet.data(), quote);
    putBe16(icmp + 2, finish(checksumAdd(std::span<const std::uint8_t>(icmp, 8 + quote))));
    return total;
  }
  if (v6Header(packet)) {
    if (!unicastV6Source(&packet[8])) {
      return 0;
    }
    // An ICMPv6 error (types below 128) right after the fixed header gets no error back.
    if (packet[6] == kProtoIcmpv6 && packet.size() > 40 && packet[40] < 128) {
      return 0;
    }
    std::size_t quote = std::min(packet.size(), kIpv6MinMtu - 48);
    std::size_t total = 48 + quote;
    if (out.size() < total) {
      return 0;
    }
    std::uint8_t* ip = out.data();
    std::memset(ip, 0, 48);
    ip[0] = 0x60;
    putBe16(ip + 4, static_cast<std::uint16_t>(8 + quote));
    ip[6] = kProtoIcmpv6;
    ip[7] = 64;  // hop limit
    std::memcpy(ip + 8, &packet[24], 16);
    std::memcpy(ip + 24, &packet[8], 16);
    std::uint8_t* icmp = ip + 40;
    icmp[0] = 2;  // packet too big
    putBe32(icmp + 4, static_cast<std::uint32_t>(std::max(mtu, kIpv6MinMtu)));
    std::memcpy(icmp + 8, packet.data(), quote);
    std::uint64_t sum = pseudoHeaderSum(std::span<const std::uint8_t>(ip + 8, 16),
                                        std::span<const std::uint8_t>(ip + 24, 16), kProtoIcmpv6,
                                        static_cast<std::uint32_t>(8 + quote));
    sum = checksumAdd(std::span<const std::uint8_t>(icmp, 8 + quote), sum);
    putBe16(icmp + 2, finish(sum));
    return total;
  }
  return 0;
}

bool clampMss(std::span<std::uint8_t> packet, std::size_t mtu) {
  std::size_t l4 = 0;
  bool v6 = false;
  std::size_t ihl = 0;
  if (v4Header(packet, ihl)) {
    if (packet[9] != kProtoTcp || (getBe16(&packet[6]) & 0x1FFF) != 0) {
      return false;
    }
    l4 = ihl;
  } else if (v6Header(packet)) {
    if (packet[6] != kProtoTcp) {
      return false;  // behind extension headers: left alone
    }
    l4 = 40;
    v6 = true;
  } else {
    return false;
  }
  if (packet.size() < l4 + 20) {
    return false;
  }
  std::uint8_t* tcp = packet.data() + l4;
  if ((tcp[13] & 0x02) == 0) {
    return false;  // not a SYN
  }
  std::size_t doff = static_cast<std::size_t>(tcp[12] >> 4) * 4;
  if (doff < 20 || l4 + doff > packet.size()) {
    return false;
  }
  const std::uint16_t limit = mssForMtu(mtu, v6);
  for (std::size_t i = 20; i < doff;) {
    std::uint8_t kind = tcp[i];
    if (kind == 0) {
      break;
    }
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff) {
      return false;  // malformed options: not ours to fix
    }
    std::size_t len = tcp[i + 1];
    if (kind == 2 && len == 4) {
      std::uint16_t mss = getBe16(tcp + i + 2);
      if (mss <= limit || limit == 0) {
        return false;
      }
      // RFC 1624 incremental update over the 16-bit-aligned words that hold the two bytes.
      std::size_t from = (i + 2) & ~std::size_t{1};
      std::size_t to = std::min(doff, ((i + 4) + 1) & ~std::size_t{1});
      std::span<const std::uint8_t> words(tcp + from, to - from);
      std::uint64_t before = checksumAdd(words);
      putBe16(tcp + i + 2, limit);
      std::uint64_t after = checksumAdd(words);
      std::uint64_t sum = static_cast<std::uint16_t>(~getBe16(tcp + 16));
      sum += static_cast<std::uint16_t>(~checksumFold(before)) + std::uint64_t{checksumFold(after)};
      putBe16(tcp + 16, static_cast<std::uint16_t>(~checksumFold(sum)));
      return true;
    }
    i += len;
  }
  return false;
}

}  // namespace vpn::protocol
