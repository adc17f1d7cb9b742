#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/inner_ip.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::protocol {
namespace {

TEST(Classify, SeparatesStunFromOurFamilies) {
  std::vector<std::uint8_t> stun(20, 0);
  stun[1] = 0x01;
  stun[4] = 0x21;
  stun[5] = 0x12;
  stun[6] = 0xA4;
  stun[7] = 0x42;
  EXPECT_EQ(classify(stun), PacketFamily::kStun);
  stun[7] = 0x43;  // no cookie: an RFC 3489 Binding request, if its length matches
  EXPECT_EQ(classify(stun), PacketFamily::kStun);
  stun[3] = 4;  // says 4 bytes of attributes, has none
  EXPECT_EQ(classify(stun), PacketFamily::kUnknown);
  stun[3] = 0;
  stun[0] = 0x01;  // a classic response: nothing we take without the cookie
  EXPECT_EQ(classify(stun), PacketFamily::kUnknown);
  EXPECT_EQ(classify(std::vector<std::uint8_t>{0x41}), PacketFamily::kHandshake);
  EXPECT_EQ(classify(std::vector<std::uint8_t>{0x51}), PacketFamily::kData);
  EXPECT_EQ(classify(std::vector<std::uint8_t>{0x53}), PacketFamily::kKeepalive);
  EXPECT_EQ(classify(std::vector<std::uint8_t>{0xFF}), PacketFamily::kUnknown);
  EXPECT_EQ(classify(std::vector<std::uint8_t>{}), PacketFamily::kUnknown);
}

TEST(DataHeader, RoundTripsAndRejectsShortPackets) {
  std::array<std::uint8_t, kDataOverhead + 4> buf{};
  DataHeader h;
  h.key_phase = 1;
  h.receiver_index = 0xA1B2C3D4;
  h.counter = 0x0102030405060708ull;
  writeDataHeader(h, buf);
  EXPECT_EQ(buf[0], 0x51);
  auto p = parseDataHeader(buf);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->keepalive);
  EXPECT_EQ(p->key_phase, 1);
  EXPECT_EQ(p->receiver_index, 0xA1B2C3D4u);
  EXPECT_EQ(p->counter, 0x060708ull);  // the wire has the low 24 bits
  EXPECT_EQ(kDataOverhead, 24u);
  EXPECT_EQ(reconstructCounter(p->counter, 0x0102030405060700ull), 0x0102030405060708ull);
  EXPECT_FALSE(parseDataHeader(std::span(buf).first(kDataOverhead - 1)));
}

// RFC 9000 appendix A.3, with 24-bit packet numbers: the candidate nearest the expected one.
TEST(DataHeader, CounterReconstructionPicksTheNearest) {
  constexpr std::uint64_t w = 1u << 24;
  EXPECT_EQ(reconstructCounter(0, 0), 0u);
  EXPECT_EQ(reconstructCounter(5, 1), 5u);
  EXPECT_EQ(reconstructCounter(w - 1, 0), w - 1);  // expected 0, nothing below it
  EXPECT_EQ(reconstructCounter(3, w - 2), w + 3);  // just past the wrap
  EXPECT_EQ(reconstructCounter(w - 5, w + 2), w - 5);  // a late one from before the wrap
  EXPECT_EQ(reconstructCounter(10, 5 * w + 9), 5 * w + 10);
  EXPECT_EQ(reconstructCounter(10, 5 * w + 9 + w / 2), 5 * w + 10);  // less than half behind
  EXPECT_EQ(reconstructCounter(10, 5 * w + 10 + w / 2), 6 * w + 10);  // half or more: ahead
  EXPECT_EQ(reconstructCounter(0x123456, 0xFFFFFFFFFF000000ull), 0xFFFFFFFFFF123456ull);
}

TEST(Handshake, RoundTripsEveryField) {
  const std::uint8_t payload[] = {1, 2, 3, 4, 5};
  HandshakePacket p;
  p.flags = kFlagPayload | kFlagHello;
  p.sender_index = 7;
  p.receiver_index = 9;
  p.packet_id = 3;
  p.name = "alice";
  p.payload = payload;
  const std::uint32_t acks[] = {1, 2};
  std::array<std::uint8_t, kMaxHandshakePacket> out{};
  auto n = serializeHandshake(p, acks, out);
  ASSERT_GT(n, 0u);
  auto r = parseHandshake(std::span(out).first(n));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sender_index, 7u);
  EXPECT_EQ(r->receiver_index, 9u);
  EXPECT_EQ(r->packet_id, 3u);
  ASSERT_EQ(r->ackCount(), 2u);
  EXPECT_EQ(r->ack(1), 2u);
  EXPECT_EQ(r->name, "alice");
  ASSERT_EQ(r->payload.size(), 5u);
  EXPECT_EQ(r->payload[4], 5);
}

TEST(Handshake, RejectsEveryTruncation) {
  const std::uint8_t payload[] = {9, 9, 9};
  HandshakePacket p;
  p.flags = kFlagPayload | kFlagHello;
  p.sender_index = 1;
  p.packet_id = 1;
  p.name = "bob";
  p.payload = payload;
  const std::uint32_t acks[] = {5};
  std::array<std::uint8_t, kMaxHandshakePacket> out{};
  auto n = serializeHandshake(p, acks, out);
  ASSERT_GT(n, 0u);
  // Any strict prefix must fail to parse (a prefix that drops only payload bytes is still a
  // shorter payload, so stop before the payload starts).
  for (std::size_t len = 0; len < n - sizeof payload; ++len) {
    EXPECT_FALSE(parseHandshake(std::span(out).first(len)).ok()) << len;
  }
}

TEST(Handshake, RejectsBadVersionFlagsAndZeroIndex) {
  HandshakePacket p;
  p.sender_index = 1;
  std::array<std::uint8_t, 64> out{};
  auto n = serializeHandshake(p, {}, out);
  ASSERT_EQ(n, kHandshakeFixedSize);
  auto bad = out;
  bad[1] = 1;  // version 1 had no cookies and no padding
  EXPECT_EQ(parseHandshake(std::span(bad).first(n)).error(), ParseError::kBadVersion);
  bad = out;
  bad[2] = 0x80;
  EXPECT_EQ(parseHandshake(std::span(bad).first(n)).error(), ParseError::kBadField);
  bad = out;
  bad[7] = 0;  // sender index 0
  EXPECT_EQ(parseHandshake(std::span(bad).first(n)).error(), ParseError::kBadField);
  bad = out;
  bad[3] = 200;  // ack count over the limit
  EXPECT_EQ(parseHandshake(std::span(bad).first(n)).error(), ParseError::kBadLength);
}

TEST(InnerIp, ReadsV4AndV6AndRejectsLies) {
  std::array<std::uint8_t, 20> v4{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0,
                                  10, 42, 0, 1, 10, 42, 0, 2};
  auto a = parseInnerAddresses(v4);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->source.toString(), "10.42.0.1");
  EXPECT_EQ(a->destination.toString(), "10.42.0.2");
  v4[3] = 21;  // total length beyond the buffer
  EXPECT_FALSE(parseInnerAddresses(v4));
  std::array<std::uint8_t, 40> v6{};
  v6[0] = 0x60;
  v6[8] = 0xfd;
  v6[23] = 1;
  v6[24] = 0xfd;
  v6[39] = 2;
  auto b = parseInnerAddresses(v6);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->source.toString(), "fd00::1");
  EXPECT_EQ(b->destination.toString(), "fd00::2");
  v6[5] = 1;  // payload length beyond the buffer
  EXPECT_FALSE(parseInnerAddresses(v6));
  EXPECT_FALSE(parseInnerAddresses(std::array<std::uint8_t, 1>{0x70}));
}

}  // namespace
}  // namespace vpn::protocol
