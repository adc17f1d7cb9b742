#include "tun/netlink_message.hpp"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <bit>
#include <cstring>

namespace vpn::tun::netlink {
namespace {

using Bytes = std::vector<std::uint8_t>;

protocol::IpPrefix prefix(const char* text) { return *protocol::IpPrefix::parse(text); }

// The expected bytes below are written for a little-endian host (netlink headers are host order).
#define REQUIRE_LITTLE_ENDIAN()                                                        \
  if constexpr (std::endian::native != std::endian::little) {                          \
    GTEST_SKIP() << "expected byte strings are written for little-endian hosts";       \
  }

TEST(NetlinkMessage, SetLinkMtuAndUp) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x28, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00,  // len 40, RTM_NEWLINK, REQUEST|ACK
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 1, pid 0
      0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,  // AF_UNSPEC, type 0, index 3
      0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // flags IFF_UP, change IFF_UP
      0x08, 0x00, 0x04, 0x00, 0x8c, 0x05, 0x00, 0x00,  // IFLA_MTU 1420
  };
  EXPECT_EQ(buildSetLink(1, 3, 1420, true), expected);
}

TEST(NetlinkMessage, SetLinkDownWithoutMtu) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // flags 0, change IFF_UP
  };
  EXPECT_EQ(buildSetLink(2, 7, 0, false), expected);
}

TEST(NetlinkMessage, NewAddressV4) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x28, 0x00, 0x00, 0x00, 0x14, 0x00, 0x05, 0x06,  // RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
      0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 7
      0x02, 0x18, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,  // AF_INET /24 flags 0 scope 0 index 5
      0x08, 0x00, 0x02, 0x00, 0x0a, 0x2a, 0x00, 0x01,  // IFA_LOCAL 10.42.0.1
      0x08, 0x00, 0x01, 0x00, 0x0a, 0x2a, 0x00, 0x01,  // IFA_ADDRESS 10.42.0.1
  };
  EXPECT_EQ(buildNewAddress(7, 5, prefix("10.42.0.1/24")), expected);
}

TEST(NetlinkMessage, NewAddressV6IsNoDad) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x40, 0x00, 0x00, 0x00, 0x14, 0x00, 0x05, 0x06, 0x09, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x0a, 0x40, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00,  // AF_INET6 /64 IFA_F_NODAD index 5
      0x14, 0x00, 0x02, 0x00, 0xfd, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // IFA_LOCAL fd00:42::1
      0x14, 0x00, 0x01, 0x00, 0xfd, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // IFA_ADDRESS fd00:42::1
  };
  EXPECT_EQ(buildNewAddress(9, 5, prefix("fd00:42::1/64")), expected);
}

TEST(NetlinkMessage, DelAddressHasNoCreateFlags) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes m = buildDelAddress(7, 5, prefix("10.42.0.1/24"));
  Bytes expected = buildNewAddress(7, 5, prefix("10.42.0.1/24"));
  expected[4] = 0x15;  // RTM_DELADDR
  expected[6] = 0x05;  // REQUEST|ACK
  expected[7] = 0x00;
  EXPECT_EQ(m, expected);
}

TEST(NetlinkMessage, NewRouteClearsHostBits) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x2c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x06,  // len 44, RTM_NEWROUTE, create
      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 2
      0x02, 0x10, 0x00, 0x00,                          // AF_INET dst_len 16 src_len 0 tos 0
      0xfe, 0x03, 0xfd, 0x01,                          // main, RTPROT_BOOT, scope link, unicast
      0x00, 0x00, 0x00, 0x00,                          // rtm_flags
      0x08, 0x00, 0x01, 0x00, 0x0a, 0x2b, 0x00, 0x00,  // RTA_DST 10.43.0.0
      0x08, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00,  // RTA_OIF 3
  };
  EXPECT_EQ(buildNewRoute(2, 3, prefix("10.43.1.7/16")), expected);
}

TEST(NetlinkMessage, DelRouteUsesScopeNowhere) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes m = buildDelRoute(2, 3, prefix("10.43.0.0/16"));
  ASSERT_EQ(m.size(), 44u);
  EXPECT_EQ(m[4], 0x19);  // RTM_DELROUTE
  EXPECT_EQ(m[6], 0x05);
  EXPECT_EQ(m[7], 0x00);
  EXPECT_EQ(m[22], 0xff);  // RT_SCOPE_NOWHERE
}

TEST(NetlinkMessage, RouteV6) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes m = buildNewRoute(1, 4, prefix("fd00:43::5/48"));
  ASSERT_EQ(m.size(), 16u + 12u + 20u + 8u);
  EXPECT_EQ(m[16], AF_INET6);
  EXPECT_EQ(m[17], 48);
  Bytes dst(m.begin() + 32, m.begin() + 48);
  Bytes want = {0xfd, 0x00, 0x00, 0x43, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(dst, want);
}

TEST(NetlinkMessage, GetAddressDump) {
  REQUIRE_LITTLE_ENDIAN();
  Bytes expected = {
      0x18, 0x00, 0x00, 0x00, 0x16, 0x00, 0x01, 0x03,  // RTM_GETADDR, REQUEST|DUMP
      0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // AF_UNSPEC
  };
  EXPECT_EQ(buildGetAddressDump(3, AF_UNSPEC), expected);
}

TEST(NetlinkMessage, RewriteSequence) {
  Bytes m = buildGetAddressDump(3, AF_UNSPEC);
  ASSERT_TRUE(rewriteSequence(m, 0x01020304));
  auto msgs = splitMessages(m);
  ASSERT_TRUE(msgs);
  EXPECT_EQ(msgs->at(0).seq, 0x01020304u);
  Bytes tiny(8);
  EXPECT_FALSE(rewriteSequence(tiny, 1));
}

// A kernel-shaped dump reply: one RTM_NEWADDR (as the kernel would send it, with extra
// attributes) followed by NLMSG_DONE, in one datagram.
Bytes dumpReply() {
  Bytes a = buildNewAddress(11, 4, prefix("10.42.0.1/24"));
  a[6] = 0x02;  // NLM_F_MULTI
  a[7] = 0x00;
  // Append an IFA_LABEL "vpn0" attribute and fix the length.
  const std::uint8_t label[] = {0x09, 0x00, 0x03, 0x00, 'v', 'p', 'n', '0', 0x00, 0, 0, 0};
  a.insert(a.end(), std::begin(label), std::end(label));
  auto len = static_cast<std::uint32_t>(a.size());
  std::memcpy(a.data(), &len, 4);
  nlmsghdr done{};
  done.nlmsg_len = sizeof(nlmsghdr) + sizeof(int);
  done.nlmsg_type = NLMSG_DONE;
  done.nlmsg_flags = NLM_F_MULTI;
  done.nlmsg_seq = 11;
  const auto* d = reinterpret_cast<const std::uint8_t*>(&done);
  a.insert(a.end(), d, d + sizeof done);
  a.insert(a.end(), 4, 0);
  return a;
}

TEST(NetlinkParse, SplitsDumpAndParsesAddress) {
  Bytes reply = dumpReply();
  auto msgs = splitMessages(reply);
  ASSERT_TRUE(msgs);
  ASSERT_EQ(msgs->size(), 2u);
  EXPECT_EQ(msgs->at(0).type, RTM_NEWADDR);
  EXPECT_EQ(msgs->at(1).type, NLMSG_DONE);
  EXPECT_EQ(msgs->at(1).seq, 11u);
  auto entry = parseAddress(msgs->at(0));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->ifindex, 4);
  EXPECT_EQ(entry->prefix, prefix("10.42.0.1/24"));
  EXPECT_FALSE(parseAddress(msgs->at(1)));
  Bytes single(msgs->at(0).whole.begin(), msgs->at(0).whole.end());
  EXPECT_TRUE(parseAddress(single));
}

TEST(NetlinkParse, AddressPrefersLocalOverPeer) {
  Bytes m = buildNewAddress(1, 2, prefix("fd00::7/120"));
  m[4] = RTM_NEWADDR;
  m[64 - 1] = 0x99;  // IFA_ADDRESS (peer) differs; IFA_LOCAL wins
  auto e = parseAddress(m);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->prefix, prefix("fd00::7/120"));
}

TEST(NetlinkParse, RejectsBadPrefixLengthAndFamily) {
  Bytes m = buildNewAddress(1, 2, prefix("10.0.0.1/8"));
  m[17] = 33;
  EXPECT_FALSE(parseAddress(m));
  m[17] = 8;
  m[16] = 99;  // unknown family
  EXPECT_FALSE(parseAddress(m));
}

TEST(NetlinkParse, EveryTruncationIsRejectedOrSafe) {
  Bytes reply = dumpReply();
  for (std::size_t n = 0; n < reply.size(); ++n) {
    Bytes cut(reply.begin(), reply.begin() + static_cast<std::ptrdiff_t>(n));
    auto msgs = splitMessages(cut);
    if (msgs) {
      for (const auto& m : *msgs) {
        (void)parseAddress(m);
        (void)parseError(m);
        (void)parseErrorText(m);
      }
    }
  }
  Bytes empty;
  auto none = splitMessages(empty);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(NetlinkParse, RejectsInconsistentLengths) {
  Bytes m = buildGetAddressDump(1, AF_UNSPEC);
  m[0] = 0x40;  // longer than the buffer
  EXPECT_FALSE(splitMessages(m));
  m[0] = 0x08;  // shorter than a header
  EXPECT_FALSE(splitMessages(m));
  // An attribute claiming more than the message holds.
  Bytes a = buildNewAddress(1, 2, prefix("10.0.0.1/8"));
  a[24] = 0x30;
  EXPECT_FALSE(parseAddress(a));
  // An attribute length below the attribute header.
  a[24] = 0x02;
  EXPECT_FALSE(parseAddress(a));
}

Bytes errorMessage(int error, std::uint32_t seq, const char* ext_text) {
  Bytes out(sizeof(nlmsghdr) + sizeof(nlmsgerr));
  nlmsghdr h{};
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = seq;
  h.nlmsg_flags = NLM_F_CAPPED;
  nlmsgerr e{};
  e.error = error;
  e.msg.nlmsg_len = 40;  // the original request's header (capped: payload not echoed)
  e.msg.nlmsg_seq = seq;
  if (ext_text != nullptr) {
    h.nlmsg_flags |= NLM_F_ACK_TLVS;
    std::size_t len = std::strlen(ext_text) + 1;
    nlattr a{};
    a.nla_type = NLMSGERR_ATTR_MSG;
    a.nla_len = static_cast<std::uint16_t>(sizeof(nlattr) + len);
    const auto* ap = reinterpret_cast<const std::uint8_t*>(&a);
    std::size_t at = out.size();
    out.insert(out.end(), ap, ap + sizeof a);
    out.insert(out.end(), ext_text, ext_text + len);
    out.resize((out.size() + 3) & ~std::size_t{3}, 0);
    (void)at;
  }
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, &e, sizeof e);
  return out;
}

TEST(NetlinkParse, AckAndErrorWithExtendedText) {
  Bytes ack = errorMessage(0, 5, nullptr);
  auto msgs = splitMessages(ack);
  ASSERT_TRUE(msgs);
  ASSERT_EQ(msgs->size(), 1u);
  EXPECT_EQ(parseError(msgs->at(0)), 0);
  EXPECT_EQ(parseErrorText(msgs->at(0)), "");

  Bytes err = errorMessage(-17, 6, "address already assigned");
  msgs = splitMessages(err);
  ASSERT_TRUE(msgs);
  EXPECT_EQ(msgs->at(0).seq, 6u);
  EXPECT_EQ(parseError(msgs->at(0)), -17);
  EXPECT_EQ(parseErrorText(msgs->at(0)), "address already assigned");

  // Not an error message.
  Bytes dump = buildGetAddressDump(1, AF_UNSPEC);
  msgs = splitMessages(dump);
  ASSERT_TRUE(msgs);
  EXPECT_FALSE(parseError(msgs->at(0)));
  // Truncated error payload.
  Bytes shortErr = errorMessage(-1, 1, nullptr);
  shortErr.resize(sizeof(nlmsghdr) + 2);
  shortErr[0] = static_cast<std::uint8_t>(shortErr.size());
  msgs = splitMessages(shortErr);
  ASSERT_TRUE(msgs);
  EXPECT_FALSE(parseError(msgs->at(0)));
}

}  // namespace
}  // namespace vpn::tun::netlink
