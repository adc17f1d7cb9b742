// UDP segmentation offload without a kernel: a UDP super-packet as a TUN device with
// TUN_F_USO4/6 hands it over (GSO UDP_L4, partial checksum) is cut into the datagrams the
// kernel itself would send: the same headers, payloads of gso_size, lengths, IPv4 ids counting
// up, full UDP checksums. Compared byte for byte with datagrams built independently.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "tun/checksum.hpp"
#include "tun/tso_split.hpp"
#include "tun/vnet_header.hpp"

namespace vpn::tun {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::uint8_t patternAt(std::size_t i) { return static_cast<std::uint8_t>(3 + i * 11 + (i >> 9)); }

// A UDP datagram carrying pattern bytes [from, from + len), with a full checksum.
Bytes udpDatagram(bool v6, std::size_t from, std::size_t len, std::uint16_t id) {
  const std::size_t ip = v6 ? 40 : 20;
  Bytes p(ip + 8 + len);
  if (v6) {
    p[0] = 0x60;
    putBe16(&p[4], static_cast<std::uint16_t>(8 + len));
    p[6] = 17;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = 1;
    p[24] = 0xfd;
    p[39] = 2;
  } else {
    p[0] = 0x45;
    putBe16(&p[2], static_cast<std::uint16_t>(p.size()));
    putBe16(&p[4], id);
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = 17;
    const std::uint8_t addrs[8] = {10, 42, 0, 1, 10, 42, 0, 2};
    std::memcpy(&p[12], addrs, 8);
    putBe16(&p[10], static_cast<std::uint16_t>(~checksumFold(checksumAdd({p.data(), 20}))));
  }
  std::uint8_t* u = &p[ip];
  putBe16(u, 44000);
  putBe16(u + 2, 443);
  putBe16(u + 4, static_cast<std::uint16_t>(8 + len));
  for (std::size_t i = 0; i < len; ++i) {
    u[8 + i] = patternAt(from + i);
  }
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  std::uint64_t sum = pseudoHeaderSum({&p[aat], alen}, {&p[aat + alen], alen}, 17,
                                      static_cast<std::uint32_t>(8 + len));
  sum = checksumAdd({u, 8 + len}, sum);
  auto c = static_cast<std::uint16_t>(~checksumFold(sum));
  putBe16(u + 6, c == 0 ? 0xffff : c);
  return p;
}

// The read a USO TUN device gives: one datagram of all the payload, its UDP checksum field
// holding only the pseudo-header sum (NEEDS_CSUM), behind a GSO UDP_L4 header.
Bytes usoRead(bool v6, std::size_t payload, std::uint16_t gso) {
  Bytes super = udpDatagram(v6, 0, payload, 0x2000);
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  putBe16(&super[ip + 6], checksumFold(pseudoHeaderSum(
                              {&super[aat], alen}, {&super[aat + alen], alen}, 17,
                              static_cast<std::uint32_t>(super.size() - ip))));
  VnetHeader h;
  h.flags = kVnetNeedsCsum;
  h.gso_type = kGsoUdpL4;
  h.hdr_len = static_cast<std::uint16_t>(ip + 8);
  h.gso_size = gso;
  h.csum_start = static_cast<std::uint16_t>(ip);
  h.csum_offset = 6;
  Bytes read(kVnetHeaderSize + super.size());
  h.write(read.data());
  std::copy(super.begin(), super.end(), read.begin() + kVnetHeaderSize);
  return read;
}

std::vector<Bytes> split(const Bytes& read, int* count) {
  std::vector<Bytes> out;
  Bytes buf(1500);
  *count = splitTunRead(read, buf, [&](std::size_t len) {
    out.emplace_back(buf.begin(), buf.begin() + static_cast<long>(len));
  });
  return out;
}

TEST(UsoSplit, DatagramsAreWhatTheKernelWouldSend) {
  for (bool v6 : {false, true}) {
    for (std::size_t payload : {std::size_t{5500}, std::size_t{4000}, std::size_t{1000},
                                std::size_t{1}, std::size_t{64000}}) {
      SCOPED_TRACE(std::string(v6 ? "IPv6" : "IPv4") + ", payload " + std::to_string(payload));
      const std::uint16_t gso = 1000;
      int count = 0;
      auto got = split(usoRead(v6, payload, gso), &count);
      const std::size_t want = (payload + gso - 1) / gso;
      ASSERT_EQ(count, static_cast<int>(want));
      ASSERT_EQ(got.size(), want);
      for (std::size_t i = 0; i < want; ++i) {
        const std::size_t len = std::min<std::size_t>(gso, payload - i * gso);
        EXPECT_EQ(got[i], udpDatagram(v6, i * gso, len, static_cast<std::uint16_t>(0x2000 + i)))
            << "datagram " << i;
      }
    }
  }
}

TEST(UsoSplit, WhatCannotBeCutIsRefusedWhole) {
  int count = 0;
  Bytes read = usoRead(false, 3000, 1000);
  Bytes zero_gso = read;
  putBe16(&zero_gso[4], 0);  // gso_size (host order is fine for 0)
  EXPECT_TRUE(split(zero_gso, &count).empty());
  EXPECT_EQ(count, -1);
  Bytes wrong_udp_len = read;
  putBe16(&wrong_udp_len[kVnetHeaderSize + 20 + 4], 2000);
  EXPECT_TRUE(split(wrong_udp_len, &count).empty());
  EXPECT_EQ(count, -1);
  Bytes not_udp = read;
  not_udp[kVnetHeaderSize + 9] = 6;
  EXPECT_TRUE(split(not_udp, &count).empty());
  EXPECT_EQ(count, -1);
  Bytes truncated(read.begin(), read.end() - 1);
  EXPECT_TRUE(split(truncated, &count).empty());
  EXPECT_EQ(count, -1);
  // A segment larger than the output buffer.
  Bytes big = usoRead(true, 6000, 3000);
  EXPECT_TRUE(split(big, &count).empty());
  EXPECT_EQ(count, -1);
}

}  // namespace
}  // namespace vpn::tun
