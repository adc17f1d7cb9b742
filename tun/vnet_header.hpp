#pragma once
// The virtio_net_hdr a TUN device opened with IFF_VNET_HDR puts before every packet (10 bytes,
// host byte order: the legacy header TUN uses unless told otherwise), and the parsing of the IP
// and TCP headers that segmentation (tso_split) and coalescing (tcp_coalescer) share.
// Pure; no I/O.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace vpn::tun {

inline constexpr std::size_t kVnetHeaderSize = 10;
inline constexpr std::uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr std::uint8_t kGsoNone = 0;
inline constexpr std::uint8_t kGsoTcpV4 = 1;
inline constexpr std::uint8_t kGsoTcpV6 = 4;
inline constexpr std::uint8_t kGsoUdpL4 = 5;  // VIRTIO_NET_HDR_GSO_UDP_L4: UDP, IPv4 or IPv6
// TUNSETOFFLOAD bits for UDP segmentation (Linux 6.2; Debian 12's headers predate them).
inline constexpr unsigned kTunFUso4 = 0x20;
inline constexpr unsigned kTunFUso6 = 0x40;
inline constexpr std::uint8_t kGsoEcn = 0x80;

struct VnetHeader {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = kGsoNone;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;

  static VnetHeader read(const std::uint8_t* p) {
    VnetHeader h;
    h.flags = p[0];
    h.gso_type = p[1];
    std::memcpy(&h.hdr_len, p + 2, 2);
    std::memcpy(&h.gso_size, p + 4, 2);
    std::memcpy(&h.csum_start, p + 6, 2);
    std::memcpy(&h.csum_offset, p + 8, 2);
    return h;
  }
  void write(std::uint8_t* p) const {
    p[0] = flags;
    p[1] = gso_type;
    std::memcpy(p + 2, &hdr_len, 2);
    std::memcpy(p + 4, &gso_size, 2);
    std::memcpy(p + 6, &csum_start, 2);
    std::memcpy(p + 8, &csum_offset, 2);
  }
};

// Where the headers of an IPv4 or IPv6 TCP packet are, as the offloads need them: IPv4 without
// fragmentation, IPv6 with TCP as the first next header. nullopt for anything else.
struct TcpPacketView {
  bool v6 = false;
  std::size_t ip_len = 0;   // IP header length
  std::size_t tcp_len = 0;  // TCP header length, options included
  std::size_t payload = 0;  // bytes after the headers
  std::size_t headers() const { return ip_len + tcp_len; }
};

// The IP header of an IPv4 packet without fragmentation, or an IPv6 one whose first next header
// is `proto`: its length and the packet's total length (checked against the bytes at hand).
struct IpView {
  bool v6 = false;
  std::size_t ip_len = 0;
  std::size_t total = 0;
};

inline std::optional<IpView> viewIp(std::span<const std::uint8_t> p, std::uint8_t proto) {
  IpView v;
  if (p.size() < 20) {
    return std::nullopt;
  }
  const unsigned version = p[0] >> 4;
  if (version == 4) {
    v.ip_len = static_cast<std::size_t>(p[0] & 0x0f) * 4;
    v.total = static_cast<std::size_t>(p[2]) << 8 | p[3];
    const bool fragment = ((p[6] & 0x3f) | p[7]) != 0;  // MF set or an offset
    if (v.ip_len < 20 || p[9] != proto || fragment) {
      return std::nullopt;
    }
  } else if (version == 6) {
    if (p.size() < 40 || p[6] != proto) {
      return std::nullopt;
    }
    v.v6 = true;
    v.ip_len = 40;
    v.total = 40 + (static_cast<std::size_t>(p[4]) << 8 | p[5]);
  } else {
    return std::nullopt;
  }
  if (v.total > p.size()) {
    return std::nullopt;
  }
  return v;
}

inline std::optional<TcpPacketView> viewTcp(std::span<const std::uint8_t> p) {
  auto ip = viewIp(p, 6);
  if (!ip || ip->total < ip->ip_len + 20) {
    return std::nullopt;
  }
  TcpPacketView v;
  v.v6 = ip->v6;
  v.ip_len = ip->ip_len;
  v.tcp_len = static_cast<std::size_t>(p[v.ip_len + 12] >> 4) * 4;
  if (v.tcp_len < 20 || v.ip_len + v.tcp_len > ip->total) {
    return std::nullopt;
  }
  v.payload = ip->total - v.ip_len - v.tcp_len;
  return v;
}

// Where the headers of an IPv4 or IPv6 UDP packet are (same limits as viewTcp). nullopt for
// anything else, or a UDP length that disagrees with the IP one.
struct UdpPacketView {
  bool v6 = false;
  std::size_t ip_len = 0;
  std::size_t payload = 0;  // bytes after the 8-byte UDP header
};

inline std::optional<UdpPacketView> viewUdp(std::span<const std::uint8_t> p) {
  auto ip = viewIp(p, 17);
  if (!ip || ip->total < ip->ip_len + 8) {
    return std::nullopt;
  }
  const std::size_t udp_len = static_cast<std::size_t>(p[ip->ip_len + 4]) << 8 | p[ip->ip_len + 5];
  if (udp_len != ip->total - ip->ip_len) {
    return std::nullopt;
  }
  return UdpPacketView{ip->v6, ip->ip_len, ip->total - ip->ip_len - 8};
}

}  // namespace vpn::tun
