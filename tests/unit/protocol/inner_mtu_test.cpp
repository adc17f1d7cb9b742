// Inner packets larger than the path's MTU: which are refused and which sent fragmentable, the
// ICMP messages that refuse them (fields and checksums as a receiving stack checks them), the
// cases where no ICMP may be sent, and TCP MSS clamping with its checksum kept valid.
#include "protocol/inner_mtu.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "protocol/checksum.hpp"

namespace vpn::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes ipv4(std::size_t total, bool df, std::uint8_t proto = 17, std::uint16_t frag_offset = 0,
           std::uint8_t src0 = 10) {
  Bytes p(20, 0);
  p.resize(std::max<std::size_t>(total, 20), 0xAB);
  p[0] = 0x45;
  putBe16(&p[2], static_cast<std::uint16_t>(total));
  putBe16(&p[6], static_cast<std::uint16_t>((df ? 0x4000 : 0) | frag_offset));
  p[8] = 64;
  p[9] = proto;
  const std::uint8_t addrs[8] = {src0, 42, 0, 1, 10, 42, 0, 2};
  std::memcpy(&p[12], addrs, 8);
  putBe16(&p[10], static_cast<std::uint16_t>(~checksumFold(checksumAdd({p.data(), 20}))));
  return p;
}

Bytes ipv6(std::size_t total, std::uint8_t next = 17, std::uint8_t src0 = 0xfd) {
  Bytes p(40, 0);
  p.resize(std::max<std::size_t>(total, 40), 0xCD);
  p[0] = 0x60;
  putBe16(&p[4], static_cast<std::uint16_t>(total - 40));
  p[6] = next;
  p[7] = 64;
  p[8] = src0;
  p[23] = 1;
  p[24] = 0xfd;
  p[39] = 2;
  return p;
}

// A TCP SYN with the MSS option at `mss_at` bytes into the options (NOPs before it), valid sums.
Bytes syn(bool v6, std::uint16_t mss, std::size_t mss_at, std::uint8_t flags = 0x02) {
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t opts = (mss_at + 4 + 3) & ~std::size_t{3};
  Bytes p = v6 ? ipv6(ip + 20 + opts, 6) : ipv4(ip + 20 + opts, true, 6);
  std::uint8_t* t = &p[ip];
  std::memset(t, 0, 20 + opts);
  putBe16(t, 40000);
  putBe16(t + 2, 443);
  putBe32(t + 4, 1000);
  t[12] = static_cast<std::uint8_t>(((20 + opts) / 4) << 4);
  t[13] = flags;
  putBe16(t + 14, 64240);
  for (std::size_t i = 0; i < opts; ++i) {
    t[20 + i] = 1;  // NOP
  }
  t[20 + mss_at] = 2;
  t[21 + mss_at] = 4;
  putBe16(t + 22 + mss_at, mss);
  if (!v6) {
    putBe16(&p[10], 0);
    putBe16(&p[10], static_cast<std::uint16_t>(~checksumFold(checksumAdd({p.data(), 20}))));
  }
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  std::uint64_t sum = pseudoHeaderSum({&p[aat], alen}, {&p[aat + alen], alen}, 6,
                                      static_cast<std::uint32_t>(20 + opts));
  sum = checksumAdd({t, 20 + opts}, sum);
  putBe16(t + 16, static_cast<std::uint16_t>(~checksumFold(sum)));
  return p;
}

bool l4ChecksumValid(const Bytes& p, std::uint8_t proto) {
  const bool v6 = (p[0] >> 4) == 6;
  const std::size_t ip = v6 ? 40 : static_cast<std::size_t>(p[0] & 0x0F) * 4;
  const std::size_t aat = v6 ? 8 : 12, alen = v6 ? 16 : 4;
  std::uint64_t sum = 0;
  if (v6 || proto != 1) {  // ICMPv4 has no pseudo-header
    sum = pseudoHeaderSum({&p[aat], alen}, {&p[aat + alen], alen}, proto,
                          static_cast<std::uint32_t>(p.size() - ip));
  }
  sum = checksumAdd({&p[ip], p.size() - ip}, sum);
  return checksumFold(sum) == 0xFFFF;
}

std::uint16_t mssOf(const Bytes& p, std::size_t ip, std::size_t mss_at) {
  return getBe16(&p[ip + 22 + mss_at]);
}

TEST(InnerMtu, WhatIsRefusedAndWhatIsFragmented) {
  EXPECT_EQ(tooBigAction(ipv4(1400, true)), TooBigAction::kRefuse);
  EXPECT_EQ(tooBigAction(ipv4(1400, false)), TooBigAction::kFragmentOuter);
  EXPECT_EQ(tooBigAction(ipv6(1280)), TooBigAction::kFragmentOuter);  // every IPv6 link carries it
  EXPECT_EQ(tooBigAction(ipv6(1281)), TooBigAction::kRefuse);
  EXPECT_EQ(tooBigAction(Bytes(100, 0)), TooBigAction::kDrop);
  EXPECT_EQ(tooBigAction(Bytes(10, 0x45)), TooBigAction::kDrop);
}

TEST(InnerMtu, FragmentationNeededForIpv4) {
  Bytes in = ipv4(1400, true);
  Bytes out(2000);
  std::size_t n = buildTooBig(in, 1228, out);
  ASSERT_EQ(n, 576u);  // RFC 1812: the error is at most 576 bytes
  out.resize(n);
  EXPECT_EQ(out[0], 0x45);
  EXPECT_EQ(getBe16(&out[2]), 576);
  EXPECT_EQ(out[9], 1);
  EXPECT_EQ(checksumFold(checksumAdd({out.data(), 20})), 0xFFFF);
  // From the destination the packet was for, to its sender.
  EXPECT_EQ(0, std::memcmp(&out[12], &in[16], 4));
  EXPECT_EQ(0, std::memcmp(&out[16], &in[12], 4));
  EXPECT_EQ(out[20], 3);
  EXPECT_EQ(out[21], 4);
  EXPECT_EQ(getBe16(&out[26]), 1228);
  EXPECT_EQ(0, std::memcmp(&out[28], in.data(), 548));  // the quote starts with its header
  EXPECT_TRUE(l4ChecksumValid(out, 1));
}

TEST(InnerMtu, PacketTooBigForIpv6) {
  Bytes in = ipv6(1400);
  Bytes out(1280);
  std::size_t n = buildTooBig(in, 1228, out);
  ASSERT_EQ(n, 1280u);  // as much as fits the minimum MTU
  EXPECT_EQ(out[0] >> 4, 6);
  EXPECT_EQ(getBe16(&out[4]), 1240);
  EXPECT_EQ(out[6], 58);
  EXPECT_EQ(0, std::memcmp(&out[8], &in[24], 16));
  EXPECT_EQ(0, std::memcmp(&out[24], &in[8], 16));
  EXPECT_EQ(out[40], 2);
  EXPECT_EQ(out[41], 0);
  EXPECT_EQ(getBe32(&out[44]), 1280u);  // never below the IPv6 minimum
  EXPECT_EQ(0, std::memcmp(&out[48], in.data(), 1232));
  EXPECT_TRUE(l4ChecksumValid(out, 58));

  Bytes small(1000);
  Bytes big = ipv6(1500);
  EXPECT_EQ(buildTooBig(big, 1400, small), 0u);  // no room: nothing written
  Bytes room(1280);
  ASSERT_EQ(buildTooBig(big, 1400, room), 1280u);
  EXPECT_EQ(getBe32(&room[44]), 1400u);
}

TEST(InnerMtu, NoIcmpErrorWhereTheRulesForbidOne) {
  Bytes out(1280);
  Bytes icmp_error = ipv4(1400, true, 1);
  icmp_error[20] = 3;  // itself an unreachable
  EXPECT_EQ(buildTooBig(icmp_error, 1228, out), 0u);
  Bytes echo = ipv4(1400, true, 1);
  echo[20] = 8;  // an echo request is fine
  EXPECT_GT(buildTooBig(echo, 1228, out), 0u);
  EXPECT_EQ(buildTooBig(ipv4(1400, true, 17, 185), 1228, out), 0u);  // a later fragment
  EXPECT_EQ(buildTooBig(ipv4(1400, true, 17, 0, 224), 1228, out), 0u);  // multicast source
  EXPECT_GT(buildTooBig(ipv4(1400, true, 17, 0, 0), 1228, out), 0u);    // 0.42.0.1: fine...
  Bytes unspecified = ipv4(1400, true);
  std::memset(&unspecified[12], 0, 4);
  EXPECT_EQ(buildTooBig(unspecified, 1228, out), 0u);  // ...0.0.0.0 is not
  Bytes v6_error = ipv6(1400, 58);
  v6_error[40] = 1;  // ICMPv6 destination unreachable
  EXPECT_EQ(buildTooBig(v6_error, 1228, out), 0u);
  Bytes v6_echo = ipv6(1400, 58);
  v6_echo[40] = 128;
  EXPECT_GT(buildTooBig(v6_echo, 1228, out), 0u);
  EXPECT_EQ(buildTooBig(ipv6(1400, 17, 0xff), 1228, out), 0u);  // multicast source
}

TEST(InnerMtu, ClampsTheMssOfSynsWithTheChecksumKept) {
  for (bool v6 : {false, true}) {
    for (std::size_t at : {0u, 1u, 2u, 3u}) {  // both alignments of the 16-bit value
      Bytes p = syn(v6, 1360, at);
      ASSERT_TRUE(l4ChecksumValid(p, 6));
      EXPECT_TRUE(clampMss(p, 1228)) << v6 << " " << at;
      const std::size_t ip = v6 ? 40 : 20;
      EXPECT_EQ(mssOf(p, ip, at), v6 ? 1168 : 1188);
      EXPECT_TRUE(l4ChecksumValid(p, 6)) << v6 << " " << at;
      EXPECT_FALSE(clampMss(p, 1228));  // already small enough
    }
  }
  Bytes synack = syn(false, 1460, 0, 0x12);
  EXPECT_TRUE(clampMss(synack, 1300));
  EXPECT_EQ(mssOf(synack, 20, 0), 1260);
  EXPECT_TRUE(l4ChecksumValid(synack, 6));
}

TEST(InnerMtu, LeavesEverythingElseAlone) {
  Bytes ack = syn(false, 1360, 0, 0x10);
  Bytes before = ack;
  EXPECT_FALSE(clampMss(ack, 1228));
  EXPECT_EQ(ack, before);
  Bytes udp = ipv4(200, true, 17);
  before = udp;
  EXPECT_FALSE(clampMss(udp, 600));
  EXPECT_EQ(udp, before);
  Bytes bad = syn(false, 1360, 0);
  bad[20 + 21] = 0;  // option length 0: malformed
  EXPECT_FALSE(clampMss(bad, 1228));
  Bytes cut = syn(false, 1360, 0);
  cut.resize(30);
  EXPECT_FALSE(clampMss(cut, 1228));
  Bytes frag = syn(false, 1360, 0);
  putBe16(&frag[6], 0x4000 | 10);
  EXPECT_FALSE(clampMss(frag, 1228));
}

}  // namespace
}  // namespace vpn::protocol
