// TUN offloads without a kernel: splitting TSO super-packets (IPv4 and IPv6) into segments with
// correct lengths, ids, sequence numbers, flags and checksums; completing partial checksums;
// refusing what cannot be split; and the coalescer merging those segments back into the very
// super-packet, keeping flows apart and in order.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tun/checksum.hpp"
#include "tun/tcp_coalescer.hpp"
#include "tun/tso_split.hpp"
#include "tun/vnet_header.hpp"

namespace vpn::tun {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint8_t kAck = 0x10, kPsh = 0x08, kFin = 0x01, kCwr = 0x80;

// A TCP packet with valid checksums. `payload_seed` fills the payload with a pattern.
Bytes tcpPacket(bool v6, std::size_t payload, std::uint32_t seq, std::uint8_t flags,
                std::uint16_t sport = 40000, std::uint8_t payload_seed = 1,
                bool with_timestamps = true) {
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t tcp = with_timestamps ? 32 : 20;
  Bytes p(ip + tcp + payload);
  if (v6) {
    p[0] = 0x60;
    putBe16(&p[4], static_cast<std::uint16_t>(tcp + payload));
    p[6] = 6;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = 1;  // fd00::1
    p[24] = 0xfd;
    p[39] = 2;  // fd00::2
  } else {
    p[0] = 0x45;
    putBe16(&p[2], static_cast<std::uint16_t>(p.size()));
    putBe16(&p[4], 0x1234);
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = 6;
    const std::uint8_t addrs[8] = {10, 42, 0, 1, 10, 42, 0, 2};
    std::memcpy(&p[12], addrs, 8);
    putBe16(&p[10], static_cast<std::uint16_t>(~checksumFold(checksumAdd({p.data(), 20}))));
  }
  std::uint8_t* t = &p[ip];
  putBe16(t, sport);
  putBe16(t + 2, 5201);
  putBe32(t + 4, seq);
  putBe32(t + 8, 777);
  t[12] = static_cast<std::uint8_t>((tcp / 4) << 4);
  t[13] = flags;
  putBe16(t + 14, 512);
  if (with_timestamps) {
    const std::uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6};
    std::memcpy(t + 20, opts, 12);
  }
  for (std::size_t i = 0; i < payload; ++i) {
    t[tcp + i] = static_cast<std::uint8_t>(payload_seed + i * 7);
  }
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  std::uint64_t sum = pseudoHeaderSum({&p[aat], alen}, {&p[aat + alen], alen}, 6,
                                      static_cast<std::uint32_t>(tcp + payload));
  sum = checksumAdd({t, tcp + payload}, sum);
  putBe16(t + 16, static_cast<std::uint16_t>(~checksumFold(sum)));
  return p;
}

bool checksumsValid(const Bytes& p) {
  auto v = viewTcp(p);
  if (!v) {
    return false;
  }
  if (!v->v6 && checksumFold(checksumAdd({p.data(), v->ip_len})) != 0xffff) {
    return false;
  }
  const std::size_t aat = v->v6 ? 8 : 12, alen = v->v6 ? 16 : 4;
  const std::size_t l4 = p.size() - v->ip_len;
  std::uint64_t sum = pseudoHeaderSum({&p[aat], alen}, {&p[aat + alen], alen}, 6,
                                      static_cast<std::uint32_t>(l4));
  return checksumFold(checksumAdd({&p[v->ip_len], l4}, sum)) == 0xffff;
}

// A TSO read as the kernel gives it: the segments' super-packet with a partial checksum.
Bytes tsoRead(bool v6, std::size_t payload, std::uint16_t gso, std::uint8_t flags) {
  Bytes super = tcpPacket(v6, payload, 1000, flags);
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  putBe16(&super[ip + 16], checksumFold(pseudoHeaderSum(
                               {&super[aat], alen}, {&super[aat + alen], alen}, 6,
                               static_cast<std::uint32_t>(super.size() - ip))));
  VnetHeader h;
  h.flags = kVnetNeedsCsum;
  h.gso_type = v6 ? kGsoTcpV6 : kGsoTcpV4;
  h.hdr_len = static_cast<std::uint16_t>(ip + 32);
  h.gso_size = gso;
  h.csum_start = static_cast<std::uint16_t>(ip);
  h.csum_offset = 16;
  Bytes read(kVnetHeaderSize);
  h.write(read.data());
  read.insert(read.end(), super.begin(), super.end());
  return read;
}

std::vector<Bytes> split(const Bytes& read, int* count = nullptr) {
  std::vector<Bytes> out;
  Bytes buf(1500);
  int n = splitTunRead(read, buf, [&](std::size_t len) {
    out.emplace_back(buf.begin(), buf.begin() + static_cast<long>(len));
  });
  if (count != nullptr) {
    *count = n;
  }
  return out;
}

struct Written {
  std::vector<Bytes> headers;
  std::vector<Bytes> packets;
  TcpCoalescer::Write writer() {
    return [this](std::span<const std::uint8_t> h, std::span<const std::uint8_t> p) {
      headers.emplace_back(h.begin(), h.end());
      packets.emplace_back(p.begin(), p.end());
    };
  }
  Bytes read(std::size_t i) const {  // as a TUN read would return it
    Bytes r = headers[i];
    r.insert(r.end(), packets[i].begin(), packets[i].end());
    return r;
  }
};

class TsoSplit : public ::testing::TestWithParam<bool> {};

TEST_P(TsoSplit, SegmentsCarryTheirOwnHeadersAndChecksums) {
  const bool v6 = GetParam();
  int n = 0;
  auto segs = split(tsoRead(v6, 5000, 1368, kAck | kPsh | kFin | kCwr), &n);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(segs.size(), 4u);
  const Bytes whole = tcpPacket(v6, 5000, 1000, 0);
  const std::size_t hdrs = (v6 ? 40 : 20) + 32;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Bytes& s = segs[i];
    const std::size_t len = i < 3 ? 1368 : 5000 - 3 * 1368;
    EXPECT_EQ(s.size(), hdrs + len);
    EXPECT_TRUE(checksumsValid(s)) << "segment " << i;
    const std::uint8_t* t = &s[v6 ? 40 : 20];
    EXPECT_EQ(getBe32(t + 4), 1000 + offset);
    const bool last = i == 3;
    EXPECT_EQ((t[13] & (kPsh | kFin)) != 0, last) << "segment " << i;
    EXPECT_EQ((t[13] & kCwr) != 0, i == 0) << "segment " << i;
    if (!v6) {
      EXPECT_EQ(getBe16(&s[4]), 0x1234 + i);
      EXPECT_EQ(getBe16(&s[2]), s.size());
    } else {
      EXPECT_EQ(getBe16(&s[4]), s.size() - 40);
    }
    EXPECT_EQ(0, std::memcmp(&s[hdrs], &whole[hdrs + offset], len)) << "segment " << i;
    offset += len;
  }
}

INSTANTIATE_TEST_SUITE_P(Ipv4AndIpv6, TsoSplit, ::testing::Values(false, true));

TEST(TsoSplitOther, PartialChecksumIsCompletedAndPlainPacketsPassAsTheyAre) {
  Bytes read = tsoRead(false, 900, 1368, kAck);
  read[1] = kGsoNone;  // one packet, checksum still partial
  auto segs = split(read);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(checksumsValid(segs[0]));
  Bytes plain(kVnetHeaderSize);
  Bytes udp = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 42, 0, 1, 10, 42, 0, 2,
               0, 53, 0, 53, 0, 8, 0, 0};
  plain.insert(plain.end(), udp.begin(), udp.end());
  segs = split(plain);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0], udp);
}

TEST(TsoSplitOther, IpOptionsAndTheEcnFlagAreKept) {
  // A super-packet whose IPv4 header has 4 bytes of options (NOP x3, EOL), marked GSO_ECN.
  Bytes read = tsoRead(false, 3000, 1000, kAck | kCwr);
  Bytes pkt(read.begin() + kVnetHeaderSize, read.end());
  const std::uint8_t opts[4] = {1, 1, 1, 0};
  pkt.insert(pkt.begin() + 20, opts, opts + 4);
  pkt[0] = 0x46;
  putBe16(&pkt[2], static_cast<std::uint16_t>(pkt.size()));
  putBe16(&pkt[10], 0);
  putBe16(&pkt[10], static_cast<std::uint16_t>(~checksumFold(checksumAdd({pkt.data(), 24}))));
  VnetHeader h = VnetHeader::read(read.data());
  h.gso_type = kGsoTcpV4 | kGsoEcn;
  h.csum_start = 24;
  Bytes with(kVnetHeaderSize);
  h.write(with.data());
  with.insert(with.end(), pkt.begin(), pkt.end());
  auto segs = split(with);
  ASSERT_EQ(segs.size(), 3u);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    EXPECT_EQ(segs[i][0], 0x46);
    EXPECT_EQ(0, std::memcmp(&segs[i][20], opts, 4));
    EXPECT_EQ(checksumFold(checksumAdd({segs[i].data(), 24})), 0xffff) << "segment " << i;
    EXPECT_TRUE(checksumsValid(segs[i])) << "segment " << i;
    EXPECT_EQ((segs[i][24 + 13] & kCwr) != 0, i == 0);
  }
  // Options in the IP header keep a packet out of any super-packet.
  Written w;
  TcpCoalescer c(w.writer());
  c.add(segs[0]);
  c.add(segs[1]);
  c.flush();
  EXPECT_EQ(w.packets.size(), 2u);
}

TEST(TsoSplitOther, WhatCannotBeSplitIsRefusedWhole) {
  int n = 0;
  EXPECT_TRUE(split(Bytes(5), &n).empty());
  EXPECT_EQ(n, -1);
  Bytes udp_gso = tsoRead(false, 3000, 1000, kAck);
  udp_gso[1] = 3;  // GSO UDP (UFO): never enabled, never split
  EXPECT_TRUE(split(udp_gso, &n).empty());
  EXPECT_EQ(n, -1);
  Bytes v6_as_v4 = tsoRead(true, 3000, 1000, kAck);
  v6_as_v4[1] = kGsoTcpV4;
  EXPECT_TRUE(split(v6_as_v4, &n).empty());
  EXPECT_EQ(n, -1);
  Bytes truncated = tsoRead(false, 3000, 1000, kAck);
  truncated.resize(truncated.size() - 10);  // IP length says more than there is
  EXPECT_TRUE(split(truncated, &n).empty());
  EXPECT_EQ(n, -1);
  Bytes zero_gso = tsoRead(false, 3000, 0, kAck);
  EXPECT_TRUE(split(zero_gso, &n).empty());
  EXPECT_EQ(n, -1);
  Bytes big = tsoRead(false, 3000, 1600, kAck);  // a segment larger than the output buffer
  EXPECT_TRUE(split(big, &n).empty());
  EXPECT_EQ(n, -1);
}

class Coalesce : public ::testing::TestWithParam<bool> {};

TEST_P(Coalesce, SegmentsMergeIntoTheSuperPacketTheySplitFrom) {
  const bool v6 = GetParam();
  auto segs = split(tsoRead(v6, 20000, 1368, kAck | kPsh));
  ASSERT_EQ(segs.size(), 15u);
  Written w;
  TcpCoalescer c(w.writer());
  for (const auto& s : segs) {
    c.add(s);
  }
  EXPECT_TRUE(w.packets.empty()) << "nothing is written before flush()";
  c.flush();
  ASSERT_EQ(w.packets.size(), 1u);
  VnetHeader h = VnetHeader::read(w.headers[0].data());
  EXPECT_EQ(h.gso_type, v6 ? kGsoTcpV6 : kGsoTcpV4);
  EXPECT_EQ(h.gso_size, 1368);
  EXPECT_EQ(h.flags, kVnetNeedsCsum);
  EXPECT_EQ(c.stats().writes, 1u);
  EXPECT_EQ(c.stats().segments, 15u);
  // Split again (as the kernel would segment it): the same segments, byte for byte.
  auto again = split(w.read(0));
  ASSERT_EQ(again.size(), segs.size());
  // (IPv4 ids: the super-packet keeps the first one and segmentation counts up from it.)
  for (std::size_t i = 0; i < segs.size(); ++i) {
    EXPECT_EQ(again[i], segs[i]) << "segment " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Ipv4AndIpv6, Coalesce, ::testing::Values(false, true));

TEST(CoalesceRules, FlowsStayApartAndInOrder) {
  Written w;
  TcpCoalescer c(w.writer());
  // Two flows interleaved; a pure ACK of flow 1; a packet with a sequence gap; UDP.
  c.add(tcpPacket(false, 1000, 1, kAck, 40000, 1));
  c.add(tcpPacket(false, 1000, 1, kAck, 40001, 2));
  c.add(tcpPacket(false, 1000, 1001, kAck, 40000, 3));
  c.add(tcpPacket(false, 1000, 1001, kAck, 40001, 4));
  c.add(tcpPacket(false, 1000, 5001, kAck, 40001, 5));  // gap: a new super-packet after
  c.add(tcpPacket(false, 0, 2001, kAck, 40000));  // pure ACK: flow 40000 is written first
  ASSERT_EQ(w.packets.size(), 4u) << "the pure ACK flushes what is pending, then goes";
  EXPECT_EQ(VnetHeader::read(w.headers[0].data()).gso_type, kGsoTcpV4);  // flow 40000, 2 segs
  EXPECT_EQ(w.packets[0].size(), 20u + 32u + 2000u);
  EXPECT_EQ(w.packets[1].size(), 20u + 32u + 2000u);  // flow 40001, 2 segments
  EXPECT_EQ(w.packets[2].size(), 20u + 32u + 1000u);  // flow 40001 after the gap, alone
  EXPECT_EQ(VnetHeader::read(w.headers[2].data()).gso_type, kGsoNone);
  EXPECT_EQ(w.packets[2], tcpPacket(false, 1000, 5001, kAck, 40001, 5));
  EXPECT_EQ(w.packets[3], tcpPacket(false, 0, 2001, kAck, 40000));
  c.flush();
  EXPECT_EQ(w.packets.size(), 4u);
}

TEST(CoalesceRules, AShorterSegmentOrPshEndsASuperPacketAndOptionsMustMatch) {
  Written w;
  TcpCoalescer c(w.writer());
  c.add(tcpPacket(false, 1000, 1, kAck));
  c.add(tcpPacket(false, 500, 1001, kAck));    // shorter: the last one
  c.add(tcpPacket(false, 1000, 1501, kAck));   // a new super-packet
  c.add(tcpPacket(false, 1000, 2501, kAck | kPsh));  // PSH: the last one
  c.add(tcpPacket(false, 1000, 3501, kAck, 40000, 1, false));  // other options: alone
  c.flush();
  ASSERT_EQ(w.packets.size(), 3u);
  EXPECT_EQ(w.packets[0].size(), 52u + 1500u);
  EXPECT_EQ(w.packets[1].size(), 52u + 2000u);
  EXPECT_NE(w.packets[1][20 + 13] & kPsh, 0);
  EXPECT_EQ(w.packets[2], tcpPacket(false, 1000, 3501, kAck, 40000, 1, false));
  for (std::size_t i = 0; i < 2; ++i) {
    for (const auto& s : split(w.read(i))) {
      EXPECT_TRUE(checksumsValid(s));
    }
  }
}

TEST(CoalesceRules, OutOfOrderSegmentsAreWrittenAsTheyCame) {
  Written w;
  TcpCoalescer c(w.writer());
  c.add(tcpPacket(true, 1000, 1001, kAck));
  c.add(tcpPacket(true, 1000, 1, kAck));     // older: a new super-packet, after the first
  c.add(tcpPacket(true, 1000, 2001, kAck));  // follows the first, but the second is between
  c.flush();
  ASSERT_EQ(w.packets.size(), 3u);
  EXPECT_EQ(getBe32(&w.packets[0][40 + 4]), 1001u);
  EXPECT_EQ(getBe32(&w.packets[1][40 + 4]), 1u);
  EXPECT_EQ(getBe32(&w.packets[2][40 + 4]), 2001u);
}

TEST(CoalesceRules, NonTcpAndControlSegmentsPassAlone) {
  Written w;
  TcpCoalescer c(w.writer());
  Bytes udp = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 42, 0, 1, 10, 42, 0, 2,
               0, 53, 0, 53, 0, 8, 0, 0};
  c.add(udp);
  c.add(tcpPacket(false, 100, 1, kAck | kFin));
  c.add(Bytes{1, 2, 3});
  ASSERT_EQ(w.packets.size(), 3u);
  EXPECT_EQ(w.packets[0], udp);
  for (const auto& h : w.headers) {
    EXPECT_EQ(h, Bytes(kVnetHeaderSize, 0));
  }
}

}  // namespace
}  // namespace vpn::tun
