#include "protocol/rendezvous_messages.hpp"

#include <gtest/gtest.h>

#include <array>

#include "protocol/data_packet.hpp"
#include "protocol/punch_packet.hpp"

namespace vpn::protocol {
namespace {

Candidate cand(CandidateKind k, const char* ep) {
  return Candidate{k, *Endpoint::parse(ep)};
}

template <typename T>
T roundTrip(const ControlMessage& m) {
  std::array<std::uint8_t, 1200> buf{};
  auto n = serializeControl(m, buf);
  EXPECT_GT(n, 0u);
  auto r = parseControl(std::span(buf).first(n));
  EXPECT_TRUE(r.ok());
  return std::get<T>(r.value());
}

TEST(RendezvousMessages, RoundTripEveryType) {
  RegisterMsg reg{{cand(CandidateKind::kLocal, "192.168.1.5:51820"),
                   cand(CandidateKind::kLocal, "[fd00::5]:51820")}};
  EXPECT_EQ(roundTrip<RegisterMsg>(reg).candidates, reg.candidates);

  RegisteredMsg ack{*Endpoint::parse("203.0.113.9:40001"), 25};
  auto ack2 = roundTrip<RegisteredMsg>(ack);
  EXPECT_EQ(ack2.reflexive, ack.reflexive);
  EXPECT_EQ(ack2.refresh_seconds, 25);

  LookupMsg by_name{7, std::string("bob"), std::nullopt};
  auto l1 = roundTrip<LookupMsg>(by_name);
  EXPECT_EQ(l1.request_id, 7u);
  EXPECT_EQ(*l1.name, "bob");
  LookupMsg by_addr{8, std::nullopt, *IpAddress::parse("10.42.0.2")};
  EXPECT_EQ(*roundTrip<LookupMsg>(by_addr).address, *IpAddress::parse("10.42.0.2"));

  IntroduceMsg intro;
  intro.request_id = 7;
  intro.intro_id = 0x0102030405060708ull;
  intro.punch_key.fill(0xAB);
  intro.peer_name = "bob";
  intro.candidates = {cand(CandidateKind::kLocal, "10.1.0.2:51820"),
                      cand(CandidateKind::kReflexive, "198.51.100.2:61000")};
  auto i2 = roundTrip<IntroduceMsg>(intro);
  EXPECT_EQ(i2.intro_id, intro.intro_id);
  EXPECT_EQ(i2.punch_key, intro.punch_key);
  EXPECT_EQ(i2.peer_name, "bob");
  EXPECT_EQ(i2.candidates, intro.candidates);

  LookupFailedMsg fail{9, LookupFailure::kNotRegistered, "carol"};
  auto f2 = roundTrip<LookupFailedMsg>(fail);
  EXPECT_EQ(f2.reason, LookupFailure::kNotRegistered);
  EXPECT_EQ(f2.name, "carol");
}

TEST(RendezvousMessages, EveryTruncationAndTrailingByteIsRejected) {
  IntroduceMsg intro;
  intro.intro_id = 1;
  intro.peer_name = "bob";
  intro.candidates = {cand(CandidateKind::kReflexive, "198.51.100.2:61000")};
  std::array<std::uint8_t, 1200> buf{};
  auto n = serializeControl(intro, buf);
  ASSERT_GT(n, 0u);
  for (std::size_t len = 0; len < n; ++len) {
    EXPECT_FALSE(parseControl(std::span(buf).first(len)).ok()) << len;
  }
  EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok());
}

TEST(RendezvousMessages, RejectsBadVersionTypeAndCounts) {
  std::array<std::uint8_t, 4> bad_version{1, 2, 0, 0};
  EXPECT_EQ(parseControl(bad_version).error(), ParseError::kBadVersion);
  std::array<std::uint8_t, 2> bad_type{99, 1};
  EXPECT_EQ(parseControl(bad_type).error(), ParseError::kBadType);
  std::array<std::uint8_t, 3> too_many{1, 1, kMaxCandidates + 1};
  EXPECT_FALSE(parseControl(too_many).ok());
  RegisterMsg big;
  big.candidates.assign(kMaxCandidates + 1, cand(CandidateKind::kLocal, "10.0.0.1:1"));
  std::array<std::uint8_t, 1200> buf{};
  EXPECT_EQ(serializeControl(big, buf), 0u);
}

TEST(PunchPacket, RoundTripAndStrictSize) {
  ProbePacket p;
  p.reply = true;
  p.intro_id = 42;
  p.sequence = 3;
  p.tag.fill(7);
  std::array<std::uint8_t, kProbeSize> buf{};
  writeProbe(p, buf);
  EXPECT_EQ(buf[0], kTypeProbeReply);
  EXPECT_EQ(classify(buf), PacketFamily::kPunch);
  auto q = parseProbe(buf);
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->reply);
  EXPECT_EQ(q->intro_id, 42u);
  EXPECT_EQ(q->sequence, 3u);
  EXPECT_EQ(q->tag, p.tag);
  EXPECT_FALSE(parseProbe(std::span(buf).first(kProbeSize - 1)));
}

TEST(SealedHeader, AcceptsControlPacketsThatDataParsingRejects) {
  std::array<std::uint8_t, kDataOverhead + 8> buf{};
  DataHeader h;
  h.control = true;
  h.key_phase = 1;
  h.receiver_index = 5;
  h.counter = 9;
  writeDataHeader(h, buf);
  EXPECT_EQ(buf[0], 0x61);
  EXPECT_FALSE(parseDataHeader(buf));
  auto s = parseSealedHeader(buf);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->control);
  EXPECT_EQ(s->receiver_index, 5u);
  EXPECT_EQ(s->counter, 9u);
}

}  // namespace
}  // namespace vpn::protocol
