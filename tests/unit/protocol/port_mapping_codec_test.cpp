// PCP (RFC 6887) MAP and NAT-PMP (RFC 6886) messages byte for byte, as the RFCs lay them out,
// and the parsers' refusals of everything else.
#include <gtest/gtest.h>

#include <vector>

#include "protocol/nat_pmp.hpp"
#include "protocol/pcp.hpp"

namespace vpn::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

TEST(Pcp, MapRequestForIpv4) {
  PcpMapRequest req;
  req.client = ip("192.168.1.7");
  for (std::size_t i = 0; i < req.nonce.size(); ++i) {
    req.nonce[i] = static_cast<std::uint8_t>(0xA0 + i);
  }
  req.internal_port = 51820;
  req.suggested_port = 51820;
  req.lifetime = 7200;
  std::uint8_t out[80];
  ASSERT_EQ(buildPcpMap(req, out), 60u);
  const Bytes expected = {
      2, 1, 0, 0, 0, 0, 0x1C, 0x20,                                  // v2 MAP, lifetime 7200
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 168, 1, 7,      // ::ffff:192.168.1.7
      0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB,  // nonce
      17, 0, 0, 0, 0xCA, 0x6C, 0xCA, 0x6C,                           // UDP, ports 51820
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0};         // any IPv4
  EXPECT_EQ(Bytes(out, out + 60), expected);
}

TEST(Pcp, MapRequestForIpv6AndRefusals) {
  PcpMapRequest req;
  req.client = ip("2001:db8::7");
  req.internal_port = 1;
  std::uint8_t out[60];
  ASSERT_EQ(buildPcpMap(req, out), 60u);
  EXPECT_EQ(out[8], 0x20);
  EXPECT_EQ(out[9], 0x01);
  EXPECT_EQ(out[23], 7);
  for (std::size_t i = 44; i < 60; ++i) {
    EXPECT_EQ(out[i], 0) << i;  // "::": any IPv6 external address
  }
  EXPECT_EQ(buildPcpMap(req, std::span<std::uint8_t>(out, 59)), 0u);
  req.internal_port = 0;
  EXPECT_EQ(buildPcpMap(req, out), 0u);
}

Bytes mapResponse(std::uint8_t result) {
  return {2,    0x81, 0,    result, 0, 0, 0x0E, 0x10,            // v2, R|MAP, result, 3600 s
          0,    0,    0x30, 0x39,                                // epoch 12345
          0,    0,    0,    0,      0, 0, 0,    0,    0, 0, 0, 0,  // reserved
          1,    2,    3,    4,      5, 6, 7,    8,    9, 10, 11, 12,  // nonce
          17,   0,    0,    0,      0xCA, 0x6C, 0xEA, 0x61,       // UDP, 51820 -> 60001
          0,    0,    0,    0,      0, 0, 0,    0,    0, 0, 0xFF, 0xFF, 203, 0, 113, 5};
}

TEST(Pcp, ParsesAMapResponse) {
  PcpMapResponse r;
  ASSERT_EQ(parsePcpMapResponse(mapResponse(0), r), PcpParse::kOk);
  EXPECT_EQ(r.result, PcpResult::kSuccess);
  EXPECT_EQ(r.lifetime, 3600u);
  EXPECT_EQ(r.epoch, 12345u);
  EXPECT_EQ(r.nonce, (PcpNonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(r.protocol, 17);
  EXPECT_EQ(r.internal_port, 51820);
  EXPECT_EQ(r.external.toString(), "203.0.113.5:60001");
  ASSERT_EQ(parsePcpMapResponse(mapResponse(2), r), PcpParse::kOk);
  EXPECT_EQ(r.result, PcpResult::kNotAuthorized);
  EXPECT_FALSE(pcpResultIsTransient(r.result));
  EXPECT_TRUE(pcpResultIsTransient(PcpResult::kNoResources));
  EXPECT_STREQ(toString(PcpResult::kAddressMismatch), "address mismatch");
  // With an option after it (ignored) the response is still one.
  Bytes with_option = mapResponse(0);
  with_option.insert(with_option.end(), {0x80, 0, 0, 0});
  EXPECT_EQ(parsePcpMapResponse(with_option, r), PcpParse::kOk);
}

TEST(Pcp, TellsANatPmpServerAndRefusesTheRest) {
  PcpMapResponse r;
  // A NAT-PMP-only router answers our version 2 request with version 0, result 1.
  const Bytes natpmp = {0, 0x81, 0, 1, 0, 0, 0, 9};
  EXPECT_EQ(parsePcpMapResponse(natpmp, r), PcpParse::kNatPmpServer);
  Bytes request = mapResponse(0);
  request[1] = 0x01;  // no R bit: a request
  EXPECT_EQ(parsePcpMapResponse(request, r), PcpParse::kNotMapResponse);
  Bytes announce = mapResponse(0);
  announce[1] = 0x80;
  EXPECT_EQ(parsePcpMapResponse(announce, r), PcpParse::kNotMapResponse);
  Bytes v3 = mapResponse(0);
  v3[0] = 3;
  EXPECT_EQ(parsePcpMapResponse(v3, r), PcpParse::kNotMapResponse);
  Bytes shorter = mapResponse(0);
  shorter.resize(56);
  EXPECT_EQ(parsePcpMapResponse(shorter, r), PcpParse::kMalformed);
  Bytes odd = mapResponse(0);
  odd.push_back(0);
  EXPECT_EQ(parsePcpMapResponse(odd, r), PcpParse::kMalformed);
  Bytes huge = mapResponse(0);
  huge.resize(1104);
  EXPECT_EQ(parsePcpMapResponse(huge, r), PcpParse::kMalformed);
  EXPECT_EQ(parsePcpMapResponse(Bytes{2, 0x81}, r), PcpParse::kMalformed);
}

TEST(NatPmp, Requests) {
  std::uint8_t out[12];
  ASSERT_EQ(buildNatPmpAddressRequest(out), 2u);
  EXPECT_EQ(Bytes(out, out + 2), (Bytes{0, 0}));
  ASSERT_EQ(buildNatPmpMapRequest(51820, 0, 7200, out), 12u);
  EXPECT_EQ(Bytes(out, out + 12), (Bytes{0, 1, 0, 0, 0xCA, 0x6C, 0, 0, 0, 0, 0x1C, 0x20}));
  EXPECT_EQ(buildNatPmpMapRequest(0, 0, 7200, out), 0u);
  EXPECT_EQ(buildNatPmpMapRequest(1, 0, 7200, std::span<std::uint8_t>(out, 11)), 0u);
}

TEST(NatPmp, Answers) {
  NatPmpResponse r;
  ASSERT_TRUE(parseNatPmpResponse(Bytes{0, 128, 0, 0, 0, 0, 1, 0, 203, 0, 113, 9}, r));
  EXPECT_EQ(r.opcode, 0);
  EXPECT_EQ(r.epoch, 256u);
  EXPECT_EQ(r.external.toString(), "203.0.113.9");
  ASSERT_TRUE(parseNatPmpResponse(
      Bytes{0, 129, 0, 0, 0, 0, 0, 7, 0xCA, 0x6C, 0xEA, 0x61, 0, 0, 0x0E, 0x10}, r));
  EXPECT_EQ(r.opcode, 1);
  EXPECT_EQ(r.result, NatPmpResult::kSuccess);
  EXPECT_EQ(r.internal_port, 51820);
  EXPECT_EQ(r.external_port, 60001);
  EXPECT_EQ(r.lifetime, 3600u);
  // An error answer may stop after the epoch.
  ASSERT_TRUE(parseNatPmpResponse(Bytes{0, 129, 0, 2, 0, 0, 0, 7}, r));
  EXPECT_EQ(r.result, NatPmpResult::kRefused);
  EXPECT_STREQ(toString(r.result), "refused (not authorized)");
}

TEST(NatPmp, RefusesWhatIsNotAnAnswer) {
  NatPmpResponse r;
  EXPECT_FALSE(parseNatPmpResponse(Bytes{0, 1, 0, 0, 0, 0, 0, 7}, r));        // a request
  EXPECT_FALSE(parseNatPmpResponse(Bytes{2, 129, 0, 0, 0, 0, 0, 7}, r));      // PCP
  EXPECT_FALSE(parseNatPmpResponse(Bytes{0, 130, 0, 0, 0, 0, 0, 7}, r));      // map TCP: not ours
  EXPECT_FALSE(parseNatPmpResponse(Bytes{0, 129, 0, 0, 0, 0, 0}, r));         // short
  EXPECT_FALSE(parseNatPmpResponse(Bytes{0, 129, 0, 0, 0, 0, 0, 7, 0xCA}, r));  // short success
  EXPECT_FALSE(parseNatPmpResponse(Bytes{0, 128, 0, 0, 0, 0, 0, 7, 1, 2, 3}, r));
}

}  // namespace
}  // namespace vpn::protocol
