#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "protocol/packet_type.hpp"
#include "protocol/stun.hpp"

namespace vpn::protocol {
namespace {

// RFC 5769 §2.1: sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY,
// FINGERPRINT).
const std::vector<std::uint8_t> kRfc5769Request = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
    0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
    0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
    0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
    0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
    0x7a, 0x3b, 0xcf};

// RFC 5769 §2.2: sample IPv4 response, mapped 192.0.2.1:32853.
const std::vector<std::uint8_t> kRfc5769V4Response = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
    0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
    0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
    0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
    0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

// RFC 5769 §2.3: sample IPv6 response, mapped [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const std::vector<std::uint8_t> kRfc5769V6Response = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
    0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01,
    0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9,
    0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
    0x0b, 0x4c};

const StunTransactionId kRfcId = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

Endpoint ep(const char* s) {
  auto e = Endpoint::parse(s);
  EXPECT_TRUE(e.has_value()) << s;
  return e.value_or(Endpoint{});
}

StunMessage parsedRequest(const BindingRequestParams& p) {
  std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
  std::size_t n = buildBindingRequest(p, buf);
  EXPECT_GT(n, 0u);
  auto m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  EXPECT_TRUE(m.ok());
  return m.ok() ? *m : StunMessage{};
}

TEST(Crc32, KnownValue) {
  const std::uint8_t s[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(crc32(s), 0xCBF43926u);
  EXPECT_EQ(crc32({}), 0u);
}

TEST(Stun, Rfc5769SampleRequest) {
  auto m = parseStun(kRfc5769Request);
  ASSERT_TRUE(m.ok()) << toString(m.error());
  EXPECT_EQ(m->type, kStunBindingRequest);
  EXPECT_EQ(m->transaction_id, kRfcId);
  EXPECT_EQ(m->software, "STUN test client");
  EXPECT_TRUE(m->has_message_integrity);
  EXPECT_TRUE(m->has_fingerprint);
  // PRIORITY (0x0024) is comprehension-required and not ours: a server answers 420.
  ASSERT_EQ(m->unknown_required_count, 1u);
  EXPECT_EQ(m->unknown_required[0], 0x0024);
  EXPECT_EQ(classifyStunRequest(*m, false, false), StunServerAction::kUnknownAttribute);
  EXPECT_EQ(classify(kRfc5769Request), PacketFamily::kStun);
}

TEST(Stun, Rfc5769SampleIpv4Response) {
  auto m = parseStun(kRfc5769V4Response);
  ASSERT_TRUE(m.ok()) << toString(m.error());
  EXPECT_EQ(m->type, kStunBindingSuccess);
  EXPECT_EQ(m->messageClass(), StunClass::kSuccess);
  EXPECT_EQ(m->method(), 1);
  EXPECT_EQ(m->transaction_id, kRfcId);
  ASSERT_TRUE(m->xor_mapped);
  EXPECT_EQ(*m->xor_mapped, ep("192.0.2.1:32853"));
  EXPECT_EQ(m->reflexive(), ep("192.0.2.1:32853"));
  EXPECT_EQ(m->software, "test vector");
  EXPECT_TRUE(m->has_fingerprint);
  EXPECT_EQ(m->unknown_required_count, 0u);
}

TEST(Stun, Rfc5769SampleIpv6Response) {
  auto m = parseStun(kRfc5769V6Response);
  ASSERT_TRUE(m.ok()) << toString(m.error());
  ASSERT_TRUE(m->xor_mapped);
  EXPECT_EQ(*m->xor_mapped, ep("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));
  EXPECT_TRUE(m->has_fingerprint);
}

TEST(Stun, FingerprintMismatchRejected) {
  for (const auto* v : {&kRfc5769Request, &kRfc5769V4Response, &kRfc5769V6Response}) {
    auto bad = *v;
    bad.back() ^= 0x01;
    auto m = parseStun(bad);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error(), ParseError::kBadField);
    // A flipped byte inside the protected range is caught too (SOFTWARE text).
    auto bad2 = *v;
    bad2[25] ^= 0x20;
    EXPECT_FALSE(parseStun(bad2).ok());
  }
}

TEST(Stun, EveryTruncationRejected) {
  for (const auto* v : {&kRfc5769Request, &kRfc5769V4Response, &kRfc5769V6Response}) {
    for (std::size_t n = 0; n < v->size(); ++n) {
      EXPECT_FALSE(parseStun(std::span<const std::uint8_t>(*v).first(n)).ok()) << n;
    }
  }
}

TEST(Stun, TruncationWithPatchedLengthRejected) {
  // Shorten the message and fix the header length, so only the attribute lengths are wrong.
  auto v = kRfc5769V4Response;
  for (std::size_t n = kStunHeaderSize + 4; n < v.size(); n += 4) {
    auto t = std::vector<std::uint8_t>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    t[2] = static_cast<std::uint8_t>((n - kStunHeaderSize) >> 8);
    t[3] = static_cast<std::uint8_t>(n - kStunHeaderSize);
    auto m = parseStun(t);
    if (m.ok()) {
      // Cutting exactly at an attribute boundary leaves a valid message without FINGERPRINT.
      EXPECT_FALSE(m->has_fingerprint) << n;
    }
  }
}

TEST(Stun, BadHeaderFieldsRejected) {
  auto v = kRfc5769V4Response;
  auto cookie = v;
  cookie[5] = 0x13;
  EXPECT_EQ(parseStun(cookie).error(), ParseError::kBadVersion);
  auto top = v;
  top[0] |= 0x40;
  EXPECT_EQ(parseStun(top).error(), ParseError::kBadType);
  auto odd = v;
  odd[3] = 0x3d;
  EXPECT_EQ(parseStun(odd).error(), ParseError::kBadLength);
  auto longer = v;
  longer[3] = 0x40;
  EXPECT_EQ(parseStun(longer).error(), ParseError::kTruncated);
  auto shorter = v;
  shorter[3] = 0x38;
  EXPECT_EQ(parseStun(shorter).error(), ParseError::kBadLength);
  auto trailing = v;
  trailing.push_back(0);
  EXPECT_FALSE(parseStun(trailing).ok());
}

TEST(Stun, BadAttributeLengthsRejected) {
  BindingRequestParams p;
  p.transaction_id = kRfcId;
  p.change_port = true;
  std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
  std::size_t n = buildBindingRequest(p, buf, {.software = "", .fingerprint = false});
  ASSERT_EQ(n, 28u);
  std::vector<std::uint8_t> v(buf.begin(), buf.begin() + 28);
  ASSERT_TRUE(parseStun(v).ok());
  // CHANGE-REQUEST length 8 running past the end.
  auto a = v;
  a[23] = 8;
  EXPECT_EQ(parseStun(a).error(), ParseError::kTruncated);
  // CHANGE-REQUEST length 0 (valid framing, wrong size for the type).
  auto b = v;
  b[23] = 0;
  b[3] = 8;
  std::vector<std::uint8_t> b2(b.begin(), b.begin() + 24);
  b2.insert(b2.end(), {0x80, 0x22, 0x00, 0x00});  // empty SOFTWARE to keep the size
  EXPECT_EQ(parseStun(b2).error(), ParseError::kBadLength);
  // Attribute header cut in half.
  std::vector<std::uint8_t> c(v.begin(), v.begin() + 20);
  c.insert(c.end(), {0x00, 0x03, 0x00, 0x04});
  c[3] = 4;
  EXPECT_EQ(parseStun(c).error(), ParseError::kTruncated);
  // XOR-MAPPED-ADDRESS with a bad family, and with a v6 family but v4 length.
  auto d = kRfc5769V4Response;
  d[41] = 0x03;
  d.resize(d.size() - 8);  // drop FINGERPRINT, now stale
  d[3] = static_cast<std::uint8_t>(d.size() - kStunHeaderSize);
  EXPECT_EQ(parseStun(d).error(), ParseError::kBadField);
  d[41] = 0x02;
  EXPECT_EQ(parseStun(d).error(), ParseError::kBadField);
}

TEST(Stun, AttributeAfterFingerprintRejected) {
  auto v = kRfc5769V4Response;
  v.insert(v.end(), {0x80, 0x22, 0x00, 0x00});
  v[3] = static_cast<std::uint8_t>(v.size() - kStunHeaderSize);
  EXPECT_FALSE(parseStun(v).ok());
}

TEST(Stun, UnknownOptionalSkippedRequiredRecorded) {
  std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
  BindingRequestParams p;
  p.transaction_id = kRfcId;
  std::size_t n = buildBindingRequest(p, buf, {.software = "", .fingerprint = false});
  std::vector<std::uint8_t> v(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  v.insert(v.end(), {0xC0, 0x01, 0x00, 0x03, 1, 2, 3, 0});   // optional, 3 bytes + pad
  v.insert(v.end(), {0x00, 0x27, 0x00, 0x04, 0, 0, 0, 0});   // RESPONSE-PORT: unsupported
  v.insert(v.end(), {0x7F, 0xFF, 0x00, 0x00});               // unknown required, empty
  v[3] = static_cast<std::uint8_t>(v.size() - kStunHeaderSize);
  auto m = parseStun(v);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->unknownRequired().size(), 2u);
  EXPECT_EQ(m->unknownRequired()[0], kStunAttrResponsePort);
  EXPECT_EQ(m->unknownRequired()[1], 0x7FFF);
  EXPECT_EQ(classifyStunRequest(*m, true, true), StunServerAction::kUnknownAttribute);
  EXPECT_EQ(m->response_port, 0);
  // Still unknown with RESPONSE-PORT support: 0x7FFF remains.
  EXPECT_EQ(classifyStunRequest(*m, true, true, true), StunServerAction::kUnknownAttribute);

  std::size_t e = buildBindingError(*m, kStunErrorUnknownAttribute, "", m->unknownRequired(), buf);
  ASSERT_GT(e, 0u);
  auto r = parseStun(std::span<const std::uint8_t>(buf).first(e));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, kStunBindingError);
  EXPECT_EQ(r->transaction_id, kRfcId);
  ASSERT_TRUE(r->error);
  EXPECT_EQ(r->error->code, 420);
  EXPECT_EQ(r->error->reason, "Unknown Attribute");
  ASSERT_EQ(r->unknown_attributes_count, 2u);
  EXPECT_EQ(r->unknown_attributes[0], kStunAttrResponsePort);
  EXPECT_EQ(r->unknown_attributes[1], 0x7FFF);
  EXPECT_TRUE(r->has_fingerprint);
}

TEST(Stun, RequestRoundTrip) {
  for (int flags = 0; flags < 4; ++flags) {
    BindingRequestParams p;
    p.transaction_id = kRfcId;
    p.change_ip = (flags & 1) != 0;
    p.change_port = (flags & 2) != 0;
    std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
    std::size_t n = buildBindingRequest(p, buf, {.software = "vpnpeer", .fingerprint = true});
    ASSERT_GT(n, 0u);
    EXPECT_EQ(n % 4, 0u);
    auto m = parseStun(std::span<const std::uint8_t>(buf).first(n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, kStunBindingRequest);
    EXPECT_EQ(m->transaction_id, kRfcId);
    EXPECT_EQ(m->change_ip, p.change_ip);
    EXPECT_EQ(m->change_port, p.change_port);
    EXPECT_EQ(m->has_change_request, flags != 0);
    EXPECT_EQ(m->software, "vpnpeer");
    EXPECT_TRUE(m->has_fingerprint);
    EXPECT_EQ(classify(std::span<const std::uint8_t>(buf).first(n)), PacketFamily::kStun);
  }
  // Minimal request: header only.
  std::array<std::uint8_t, kStunHeaderSize> tiny{};
  EXPECT_EQ(buildBindingRequest({}, tiny, {.software = "", .fingerprint = false}), 20u);
  EXPECT_EQ(buildBindingRequest({}, tiny), 0u);  // no room for FINGERPRINT
}

TEST(Stun, ResponseRoundTripV4AndV6) {
  auto req = parsedRequest({.transaction_id = kRfcId, .change_ip = false, .change_port = true, .pad_to = 0, .response_port = {}});
  EXPECT_EQ(classifyStunRequest(req, false, true), StunServerAction::kAnswer);
  EXPECT_EQ(classifyStunRequest(req, false, false), StunServerAction::kCannotChange);
  for (const char* src : {"198.51.100.7:40000", "[2001:db8::7]:1"}) {
    std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
    auto origin = ep("203.0.113.1:3479");
    auto other = ep("203.0.113.2:3479");
    std::size_t n = buildBindingResponse(req, ep(src), origin, other, buf,
                                         {.software = "vpnpeer-rendezvous", .fingerprint = true});
    ASSERT_GT(n, 0u);
    auto m = parseStun(std::span<const std::uint8_t>(buf).first(n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, kStunBindingSuccess);
    EXPECT_EQ(m->transaction_id, kRfcId);
    EXPECT_EQ(m->xor_mapped, ep(src));
    EXPECT_EQ(m->mapped, ep(src));
    EXPECT_EQ(m->response_origin, origin);
    EXPECT_EQ(m->other_address, other);
    EXPECT_EQ(m->software, "vpnpeer-rendezvous");
    EXPECT_TRUE(m->has_fingerprint);
    EXPECT_EQ(classifyStunRequest(*m, true, true), StunServerAction::kIgnore);
    // Every prefix of a built message is rejected too.
    for (std::size_t k = 0; k < n; ++k) {
      EXPECT_FALSE(parseStun(std::span<const std::uint8_t>(buf).first(k)).ok());
    }
    // Output buffers one byte short of the size fail cleanly.
    std::vector<std::uint8_t> small(n - 1);
    EXPECT_EQ(buildBindingResponse(req, ep(src), origin, other, small,
                                   {.software = "vpnpeer-rendezvous", .fingerprint = true}),
              0u);
  }
  // Without origin / other address.
  std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
  std::size_t n = buildBindingResponse(req, ep("10.0.0.1:5"), std::nullopt, std::nullopt, buf);
  auto m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->response_origin);
  EXPECT_FALSE(m->other_address);
}

TEST(Stun, ErrorResponsesAndServerActions) {
  auto req = parsedRequest({.transaction_id = kRfcId, .change_ip = false, .change_port = false, .pad_to = 0, .response_port = {}});
  std::array<std::uint8_t, kStunMaxBuiltSize> buf{};
  std::size_t n = buildBindingError(req, 400, "", {}, buf);
  auto m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->error->code, 400);
  EXPECT_EQ(m->error->reason, "Bad Request");
  EXPECT_EQ(buildBindingError(req, 299, "", {}, buf), 0u);
  EXPECT_EQ(buildBindingError(req, 700, "", {}, buf), 0u);
  n = buildBindingError(req, 500, "odd", {}, buf);
  m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->error->code, 500);
  EXPECT_EQ(m->error->reason, "odd");

  // A request of another method (Allocate, 0x0003) gets 400; an indication is ignored.
  StunMessage other = req;
  other.type = 0x0003;
  EXPECT_EQ(classifyStunRequest(other, true, true), StunServerAction::kBadRequest);
  n = buildBindingError(other, 400, "", {}, buf);
  m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, 0x0113);
  other.type = kStunBindingIndication;
  EXPECT_EQ(classifyStunRequest(other, true, true), StunServerAction::kIgnore);

  // A request whose attributes are garbage: the header still gives a 400 to send.
  std::vector<std::uint8_t> junk(kRfc5769Request.begin(), kRfc5769Request.begin() + 24);
  junk[3] = 4;
  junk[22] = 0x00;
  junk[23] = 0x09;  // SOFTWARE claiming 9 bytes in a 4-byte body
  ASSERT_FALSE(parseStun(junk).ok());
  auto h = parseStunHeader(junk);
  ASSERT_TRUE(h.ok());
  n = buildBindingErrorFor(*h, 400, "", buf);
  m = parseStun(std::span<const std::uint8_t>(buf).first(n));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, kStunBindingError);
  EXPECT_EQ(m->transaction_id, kRfcId);
}

TEST(Stun, ResponsePortIsOptIn) {
  // As coturn's turnutils_stunclient -f sends it: RESPONSE-PORT then CHANGE-REQUEST ip+port.
  std::vector<std::uint8_t> v = {0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42};
  v.insert(v.end(), kRfcId.begin(), kRfcId.end());
  v.insert(v.end(), {0x00, 0x27, 0x00, 0x04, 0xe4, 0xc2, 0x00, 0x00});
  v.insert(v.end(), {0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x06});
  auto m = parseStun(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->response_port, 0xe4c2);
  EXPECT_TRUE(m->change_ip);
  EXPECT_TRUE(m->change_port);
  EXPECT_EQ(classifyStunRequest(*m, true, true), StunServerAction::kUnknownAttribute);
  ASSERT_EQ(m->unknownRequired().size(), 1u);
  EXPECT_EQ(m->unknownRequired()[0], kStunAttrResponsePort);
  EXPECT_EQ(classifyStunRequest(*m, true, true, true), StunServerAction::kAnswer);
  EXPECT_EQ(classifyStunRequest(*m, false, true, true), StunServerAction::kCannotChange);
  // A RESPONSE-PORT of the wrong size is malformed.
  v[23] = 0x02;
  v[3] = 0x10;
  EXPECT_FALSE(parseStun(v).ok());
}

TEST(Stun, ChangeRequestFlagsDecoded) {
  auto both = parsedRequest({.transaction_id = kRfcId, .change_ip = true, .change_port = true, .pad_to = 0, .response_port = {}});
  EXPECT_TRUE(both.change_ip);
  EXPECT_TRUE(both.change_port);
  EXPECT_EQ(classifyStunRequest(both, true, true), StunServerAction::kAnswer);
  EXPECT_EQ(classifyStunRequest(both, false, true), StunServerAction::kCannotChange);
  auto ip = parsedRequest({.transaction_id = kRfcId, .change_ip = true, .change_port = false, .pad_to = 0, .response_port = {}});
  EXPECT_TRUE(ip.change_ip);
  EXPECT_FALSE(ip.change_port);
}

TEST(Stun, LegacyRfc3489AddressesFallBack) {
  // MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS only, as an RFC 3489 server sends them.
  std::vector<std::uint8_t> v = {0x01, 0x01, 0x00, 0x24, 0x21, 0x12, 0xa4, 0x42};
  v.insert(v.end(), kRfcId.begin(), kRfcId.end());
  v.insert(v.end(), {0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1F, 0x90, 192, 0, 2, 1});
  v.insert(v.end(), {0x00, 0x04, 0x00, 0x08, 0x00, 0x01, 0x0D, 0x96, 203, 0, 113, 1});
  v.insert(v.end(), {0x00, 0x05, 0x00, 0x08, 0x00, 0x01, 0x0D, 0x97, 203, 0, 113, 2});
  auto m = parseStun(v);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->xor_mapped);
  EXPECT_EQ(m->reflexive(), ep("192.0.2.1:8080"));
  EXPECT_EQ(m->response_origin, ep("203.0.113.1:3478"));
  EXPECT_EQ(m->other_address, ep("203.0.113.2:3479"));
}

// RFC 3489 messages: refused unless asked for; then parsed with their 128-bit id, and answered
// with it, MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS, no SOFTWARE or FINGERPRINT.
TEST(Stun, ClassicRequestsParseOnlyWhenAllowedAndAreAnsweredClassically) {
  std::vector<std::uint8_t> req = {0x00, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04,
                                   0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
                                   0x0d, 0x0e, 0x0f, 0x10, 0x00, 0x03, 0x00, 0x04,
                                   0x00, 0x00, 0x00, 0x02};
  EXPECT_EQ(parseStun(req).error(), ParseError::kBadVersion);
  EXPECT_EQ(parseStunHeader(req).error(), ParseError::kBadVersion);
  auto m = parseStun(req, true);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->classic);
  EXPECT_TRUE(m->change_port);
  EXPECT_FALSE(m->change_ip);
  EXPECT_EQ(classifyStunRequest(*m, true, true), StunServerAction::kAnswer);
  std::array<std::uint8_t, kStunMaxBuiltSize> out{};
  StunBuildOptions opts;
  opts.software = "test";
  std::size_t n = buildBindingResponse(*m, ep("192.0.2.1:32853"), ep("203.0.113.1:3479"),
                                       ep("203.0.113.2:3479"), out, opts);
  ASSERT_EQ(n, 20u + 3 * 12);
  const std::vector<std::uint8_t> want = {
      0x01, 0x01, 0x00, 0x24, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
      0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
      0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x80, 0x55, 192, 0, 2, 1,      // MAPPED-ADDRESS
      0x00, 0x04, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 203, 0, 113, 1,    // SOURCE-ADDRESS
      0x00, 0x05, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 203, 0, 113, 2};   // CHANGED-ADDRESS
  EXPECT_EQ(std::vector<std::uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)),
            want);
  std::size_t e = buildBindingError(*m, kStunErrorBadRequest, {}, {}, out, opts);
  ASSERT_GT(e, 20u);
  EXPECT_TRUE(std::equal(req.begin() + 4, req.begin() + 20, out.begin() + 4));
  auto err = parseStun(std::span<const std::uint8_t>(out).first(e), true);
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE(err->classic);
  EXPECT_FALSE(err->has_fingerprint);
  EXPECT_TRUE(err->software.empty());
  // A cookie-carrying message is never taken as classic.
  auto modern = parseStun(kRfc5769Request, true);
  ASSERT_TRUE(modern.ok());
  EXPECT_FALSE(modern->classic);
}

TEST(Stun, DuplicateAttributesKeepFirst) {
  std::vector<std::uint8_t> v = {0x01, 0x01, 0x00, 0x18, 0x21, 0x12, 0xa4, 0x42};
  v.insert(v.end(), kRfcId.begin(), kRfcId.end());
  v.insert(v.end(), {0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x01, 10, 0, 0, 1});
  v.insert(v.end(), {0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x02, 10, 0, 0, 2});
  auto m = parseStun(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->mapped, ep("10.0.0.1:1"));
}

TEST(Stun, RandomFuzzNeverCrashes) {
  // A valid base without FINGERPRINT, so mutations past the header often still parse.
  std::array<std::uint8_t, kStunMaxBuiltSize> nofp{};
  auto req = parsedRequest({.transaction_id = kRfcId, .change_ip = true, .change_port = true, .pad_to = 0, .response_port = {}});
  std::size_t nofp_n = buildBindingResponse(req, ep("[2001:db8::7]:1"), ep("192.0.2.9:3478"),
                                            ep("192.0.2.10:3479"), nofp,
                                            {.software = "x", .fingerprint = false});
  ASSERT_GT(nofp_n, 0u);
  const std::vector<std::uint8_t> plain(nofp.begin(),
                                        nofp.begin() + static_cast<std::ptrdiff_t>(nofp_n));
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::array<std::uint8_t, kStunMaxBuiltSize> out{};
  int parsed = 0;
  for (int i = 0; i < 200000; ++i) {
    std::vector<std::uint8_t> v;
    int mode = i % 5;
    if (mode == 0) {
      v.resize(static_cast<std::size_t>(byte(rng)) % 96);
      for (auto& b : v) {
        b = static_cast<std::uint8_t>(byte(rng));
      }
    } else {
      // Start from a valid message and mutate a few bytes (keeping the cookie half the time).
      const auto& base = mode == 1   ? kRfc5769Request
                         : mode == 2 ? kRfc5769V4Response
                         : mode == 3 ? kRfc5769V6Response
                                     : plain;
      v = base;
      int flips = 1 + byte(rng) % 4;
      for (int k = 0; k < flips; ++k) {
        v[static_cast<std::size_t>(byte(rng)) % v.size()] = static_cast<std::uint8_t>(byte(rng));
      }
      if (byte(rng) % 2 == 0) {
        v.resize(static_cast<std::size_t>(byte(rng)) % (v.size() + 1));
      }
    }
    auto m = parseStun(v);
    if (m.ok()) {
      ++parsed;
      // Anything that parses can be answered without trouble.
      (void)classifyStunRequest(*m, true, true);
      (void)buildBindingResponse(*m, ep("192.0.2.1:1"), std::nullopt, std::nullopt, out);
      (void)buildBindingError(*m, 420, "", m->unknownRequired(), out);
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace vpn::protocol
