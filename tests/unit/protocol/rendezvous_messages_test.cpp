#include "protocol/rendezvous_messages.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/punch_packet.hpp"
#include "protocol/relay_packet.hpp"

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

  LookupMsg by_name{7, std::string("bob"), std::nullopt, std::nullopt};
  auto l1 = roundTrip<LookupMsg>(by_name);
  EXPECT_EQ(l1.request_id, 7u);
  EXPECT_EQ(*l1.name, "bob");
  LookupMsg by_addr{8, std::nullopt, *IpAddress::parse("10.42.0.2"), std::nullopt};
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

TEST(RendezvousMessages, PortReadingsRoundTripAndBadOnesAreRefused) {
  LookupMsg lookup{11, std::string("bob"), std::nullopt, PortReading{40123, 2}};
  auto l2 = roundTrip<LookupMsg>(lookup);
  ASSERT_TRUE(l2.reading);
  EXPECT_EQ(*l2.reading, (PortReading{40123, 2}));
  EXPECT_FALSE(roundTrip<LookupMsg>(LookupMsg{12, std::string("bob"), std::nullopt,
                                              std::nullopt})
                   .reading);

  IntroduceMsg intro;
  intro.intro_id = 3;
  intro.peer_name = "bob";
  intro.peer_nat_type = NatType::kSymmetric;
  intro.peer_reading = PortReading{20001, 1};
  auto i2 = roundTrip<IntroduceMsg>(intro);
  EXPECT_EQ(i2.peer_nat_type, NatType::kSymmetric);
  ASSERT_TRUE(i2.peer_reading);
  EXPECT_EQ(*i2.peer_reading, (PortReading{20001, 1}));

  // Serializing refuses what parsing would refuse: port 0, stride 0 or over kMaxPortStride.
  std::array<std::uint8_t, 1200> buf{};
  for (PortReading bad : {PortReading{0, 1}, PortReading{5000, 0},
                          PortReading{5000, static_cast<std::uint8_t>(kMaxPortStride + 1)}}) {
    lookup.reading = bad;
    EXPECT_EQ(serializeControl(lookup, buf), 0u);
    intro.peer_reading = bad;
    EXPECT_EQ(serializeControl(intro, buf), 0u);
  }
  // On the wire: a stride byte out of range, and a reading cut short, are malformed.
  lookup.reading = PortReading{5000, 1};
  auto n = serializeControl(lookup, buf);
  ASSERT_GT(n, 3u);
  EXPECT_TRUE(parseControl(std::span(buf).first(n)).ok());
  buf[n - 1] = kMaxPortStride + 1;
  EXPECT_FALSE(parseControl(std::span(buf).first(n)).ok());
  EXPECT_FALSE(parseControl(std::span(buf).first(n - 1)).ok());
  EXPECT_FALSE(parseControl(std::span(buf).first(n - 2)).ok());
  EXPECT_TRUE(parseControl(std::span(buf).first(n - 3)).ok());  // no reading: an older peer
}

TEST(RendezvousMessages, EveryTruncationAndTrailingByteIsRejected) {
  IntroduceMsg intro;
  intro.intro_id = 1;
  intro.peer_name = "bob";
  intro.candidates = {cand(CandidateKind::kReflexive, "198.51.100.2:61000")};
  intro.peer_nat_type = NatType::kSymmetric;
  std::array<std::uint8_t, 1200> buf{};
  auto n = serializeControl(intro, buf);
  ASSERT_GT(n, 0u);
  // Cutting off only the optional NAT byte leaves an older-format message (checked below).
  for (std::size_t len = 0; len + 1 < n; ++len) {
    EXPECT_FALSE(parseControl(std::span(buf).first(len)).ok()) << len;
  }
  EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok());
}

TEST(RendezvousMessages, RelayMessagesEveryTruncationAndTrailingByteIsRejected) {
  std::vector<ControlMessage> msgs = {RelayRequestMsg{3, "bob"},
                                      RelayBoundMsg{4, 0x1234, "bob"},
                                      RelayFailedMsg{5, RelayFailure::kChannelLimit, "bob"}};
  for (const auto& m : msgs) {
    std::array<std::uint8_t, 1200> buf{};
    auto n = serializeControl(m, buf);
    ASSERT_GT(n, 0u);
    for (std::size_t len = 0; len < n; ++len) {
      EXPECT_FALSE(parseControl(std::span(buf).first(len)).ok()) << m.index() << " " << len;
    }
    EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok()) << m.index();
  }
}

TEST(RendezvousMessages, RelayRoundTrips) {
  auto req = roundTrip<RelayRequestMsg>(RelayRequestMsg{0xDEADBEEF, "bob"});
  EXPECT_EQ(req.request_id, 0xDEADBEEFu);
  EXPECT_EQ(req.peer_name, "bob");

  auto bound = roundTrip<RelayBoundMsg>(RelayBoundMsg{0, 0xFFFF, "alice"});
  EXPECT_EQ(bound.request_id, 0u);
  EXPECT_EQ(bound.channel, 0xFFFF);
  EXPECT_EQ(bound.peer_name, "alice");

  for (auto reason : {RelayFailure::kDisabled, RelayFailure::kNotRegistered,
                      RelayFailure::kChannelLimit, RelayFailure::kNotAllowed}) {
    auto f = roundTrip<RelayFailedMsg>(RelayFailedMsg{77, reason, "carol"});
    EXPECT_EQ(f.request_id, 77u);
    EXPECT_EQ(f.reason, reason);
    EXPECT_EQ(f.peer_name, "carol");
    EXPECT_FALSE(toString(reason).empty());
  }
  EXPECT_EQ(toString(RelayFailure::kDisabled), "relaying is disabled on this rendezvous");
}

TEST(RendezvousMessages, RelayBadValuesAreRejected) {
  std::array<std::uint8_t, 64> buf{};
  // Serializing refuses channel 0 and empty names.
  EXPECT_EQ(serializeControl(RelayBoundMsg{1, 0, "bob"}, buf), 0u);
  EXPECT_EQ(serializeControl(RelayRequestMsg{1, ""}, buf), 0u);
  EXPECT_EQ(serializeControl(RelayFailedMsg{1, RelayFailure::kDisabled, ""}, buf), 0u);
  EXPECT_EQ(serializeControl(RelayRequestMsg{1, std::string(kMaxNameLength + 1, 'x')}, buf), 0u);

  // Hand-made bodies: channel 0, reasons 0 and 5, an empty name.
  std::array<std::uint8_t, 12> bound0{7, 1, 0, 0, 0, 1, 0x00, 0x00, 3, 'b', 'o', 'b'};
  EXPECT_EQ(parseControl(bound0).error(), ParseError::kBadField);
  bound0[7] = 1;
  EXPECT_TRUE(parseControl(bound0).ok());
  std::array<std::uint8_t, 11> failed{8, 1, 0, 0, 0, 1, 0, 3, 'b', 'o', 'b'};
  EXPECT_FALSE(parseControl(failed).ok());
  failed[6] = 5;
  EXPECT_FALSE(parseControl(failed).ok());
  failed[6] = 4;
  ASSERT_TRUE(parseControl(failed).ok());
  EXPECT_EQ(std::get<RelayFailedMsg>(parseControl(failed).value()).reason,
            RelayFailure::kNotAllowed);
  std::array<std::uint8_t, 7> empty_name{6, 1, 0, 0, 0, 1, 0};
  EXPECT_EQ(parseControl(empty_name).error(), ParseError::kBadField);
}

TEST(RendezvousMessages, NatTypeIsAnOptionalTrailingByte) {
  RegisterMsg reg{{cand(CandidateKind::kLocal, "192.168.1.5:51820")}, NatType::kPortRestrictedCone};
  EXPECT_EQ(roundTrip<RegisterMsg>(reg).nat_type, NatType::kPortRestrictedCone);

  std::array<std::uint8_t, 1200> buf{};
  auto n = serializeControl(reg, buf);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(buf[n - 1], static_cast<std::uint8_t>(NatType::kPortRestrictedCone));
  // The older format, without the byte, still parses, as unknown.
  auto old = parseControl(std::span(buf).first(n - 1));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(std::get<RegisterMsg>(old.value()).nat_type, NatType::kUnknown);
  EXPECT_EQ(std::get<RegisterMsg>(old.value()).candidates, reg.candidates);
  // A value from a newer build reads as unknown; a second trailing byte is an error.
  buf[n - 1] = 200;
  auto future = parseControl(std::span(buf).first(n));
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(std::get<RegisterMsg>(future.value()).nat_type, NatType::kUnknown);
  EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok());

  // An old REGISTER with no candidates and no NAT byte: type, version, count 0.
  std::array<std::uint8_t, 3> old_empty{1, 1, 0};
  auto e = parseControl(old_empty);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(std::get<RegisterMsg>(e.value()).candidates.empty());
  EXPECT_EQ(std::get<RegisterMsg>(e.value()).nat_type, NatType::kUnknown);

  IntroduceMsg intro;
  intro.intro_id = 9;
  intro.peer_name = "bob";
  intro.candidates = {cand(CandidateKind::kTcp, "198.51.100.2:443")};
  intro.peer_nat_type = NatType::kSymmetric;
  auto i2 = roundTrip<IntroduceMsg>(intro);
  EXPECT_EQ(i2.peer_nat_type, NatType::kSymmetric);
  EXPECT_EQ(i2.candidates, intro.candidates);
  n = serializeControl(intro, buf);
  ASSERT_GT(n, 0u);
  auto old_intro = parseControl(std::span(buf).first(n - 1));
  ASSERT_TRUE(old_intro.ok());
  EXPECT_EQ(std::get<IntroduceMsg>(old_intro.value()).peer_nat_type, NatType::kUnknown);
  EXPECT_EQ(std::get<IntroduceMsg>(old_intro.value()).peer_name, "bob");
}

TEST(NatType, WordsAndWireValues) {
  const char* words[] = {"unknown",
                         "open",
                         "open-with-firewall",
                         "full-cone",
                         "restricted-cone",
                         "full-or-restricted-cone",
                         "port-restricted-cone",
                         "symmetric",
                         "udp-blocked"};
  for (std::uint8_t i = 0; i <= 8; ++i) {
    EXPECT_EQ(static_cast<std::uint8_t>(natTypeFromWire(i)), i);
    EXPECT_EQ(toString(natTypeFromWire(i)), words[i]);
  }
  EXPECT_EQ(natTypeFromWire(9), NatType::kUnknown);
  EXPECT_EQ(natTypeFromWire(255), NatType::kUnknown);
}

TEST(Candidate, TcpKindRoundTripsAndUnknownKindsFail) {
  EXPECT_EQ(toString(CandidateKind::kTcp), "tcp");
  std::array<std::uint8_t, 32> buf{};
  ByteWriter w(buf);
  writeCandidate(w, cand(CandidateKind::kTcp, "[2001:db8::1]:443"));
  ASSERT_TRUE(w.ok());
  ByteReader r{std::span<const std::uint8_t>(buf).first(w.size())};
  auto c = readCandidate(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, CandidateKind::kTcp);
  EXPECT_EQ(c->endpoint, *Endpoint::parse("[2001:db8::1]:443"));
  for (int bad : {0, 5, 255}) {
    buf[0] = static_cast<std::uint8_t>(bad);
    ByteReader r2{std::span<const std::uint8_t>(buf).first(w.size())};
    EXPECT_FALSE(readCandidate(r2)) << bad;
  }
}

TEST(Candidate, MappedKindRoundTripsAndOnlyOneIsAnnounced) {
  EXPECT_EQ(toString(CandidateKind::kMapped), "mapped");
  std::array<std::uint8_t, 32> buf{};
  ByteWriter w(buf);
  writeCandidate(w, cand(CandidateKind::kMapped, "203.0.113.5:60001"));
  ByteReader r{std::span<const std::uint8_t>(buf).first(w.size())};
  auto c = readCandidate(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, CandidateKind::kMapped);
  // Its port is the router's choice (not the local candidates' port); a second one, or one at an
  // address nobody can reach, is dropped.
  std::vector<Candidate> in = {cand(CandidateKind::kLocal, "192.168.1.7:51820"),
                               cand(CandidateKind::kMapped, "203.0.113.5:60001"),
                               cand(CandidateKind::kMapped, "203.0.113.6:60002"),
                               cand(CandidateKind::kLocal, "10.0.0.7:51820")};
  std::vector<Candidate> kept;
  EXPECT_EQ(keepAnnounceable(in, kept), 1u);
  EXPECT_EQ(kept, (std::vector<Candidate>{in[0], in[1], in[3]}));
  std::vector<Candidate> loopback = {cand(CandidateKind::kMapped, "127.0.0.1:60001")};
  EXPECT_EQ(keepAnnounceable(loopback, kept), 1u);
  EXPECT_TRUE(kept.empty());
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

TEST(RelayPacket, HeaderRoundTripAndRejects) {
  std::array<std::uint8_t, 8> buf{};
  writeRelayHeader(0xABCD, buf);
  EXPECT_EQ(buf[0], kTypeRelay);
  EXPECT_EQ(buf[1], 0xAB);
  EXPECT_EQ(buf[2], 0xCD);
  EXPECT_EQ(classify(buf), PacketFamily::kRelay);
  EXPECT_EQ(parseRelayChannel(buf), 0xABCD);
  EXPECT_EQ(relayInner(buf).size(), buf.size() - kRelayHeaderSize);
  // A bare header (no inner datagram) still names its channel.
  EXPECT_EQ(parseRelayChannel(std::span(buf).first(kRelayHeaderSize)), 0xABCD);
  EXPECT_FALSE(parseRelayChannel(std::span(buf).first(kRelayHeaderSize - 1)));
  EXPECT_FALSE(parseRelayChannel(std::span<const std::uint8_t>{}));
  buf[0] = 0x79;
  EXPECT_FALSE(parseRelayChannel(buf));
  writeRelayHeader(0, buf);
  EXPECT_FALSE(parseRelayChannel(buf));
  // Too short an output span is left untouched.
  std::array<std::uint8_t, 2> small{9, 9};
  writeRelayHeader(1, small);
  EXPECT_EQ(small[0], 9);
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

TEST(RendezvousMessages, AlsoHereAndSeenHereRoundTripAndRejectTruncation) {
  EXPECT_EQ(roundTrip<AlsoHereMsg>(AlsoHereMsg{0xA1B2C3D4}).request_id, 0xA1B2C3D4u);
  auto seen = roundTrip<SeenHereMsg>(
      SeenHereMsg{7, *Endpoint::parse("[2001:db8:100::9]:40001")});
  EXPECT_EQ(seen.request_id, 7u);
  EXPECT_EQ(seen.reflexive.toString(), "[2001:db8:100::9]:40001");
  std::vector<ControlMessage> msgs = {AlsoHereMsg{3},
                                      SeenHereMsg{4, *Endpoint::parse("192.0.2.1:9")}};
  for (const auto& m : msgs) {
    std::array<std::uint8_t, 64> buf{};
    auto n = serializeControl(m, buf);
    ASSERT_GT(n, 0u);
    EXPECT_EQ(peekControlType(std::span(buf).first(n)),
              m.index() == 8 ? ControlType::kAlsoHere : ControlType::kSeenHere);
    for (std::size_t len = 0; len < n; ++len) {
      EXPECT_FALSE(parseControl(std::span(buf).first(len)).ok()) << m.index() << " " << len;
    }
    EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok()) << m.index();
  }
  EXPECT_FALSE(peekControlType({}).has_value());
}

TEST(RendezvousMessages, HellosRoundTripAndRefuseBadLengths) {
  std::vector<std::uint8_t> hello(300);
  for (std::size_t i = 0; i < hello.size(); ++i) {
    hello[i] = static_cast<std::uint8_t>(i * 7);
  }
  auto via = roundTrip<HelloViaMsg>(HelloViaMsg{"bob", hello});
  EXPECT_EQ(via.peer_name, "bob");
  EXPECT_EQ(via.hello, hello);
  auto from = roundTrip<HelloFromMsg>(HelloFromMsg{0x0102030405060708ull, "alice", hello});
  EXPECT_EQ(from.intro_id, 0x0102030405060708ull);
  EXPECT_EQ(from.peer_name, "alice");
  EXPECT_EQ(from.hello, hello);

  // The largest hello still fits a control payload after the longest name.
  std::array<std::uint8_t, kMaxControlPayload> big{};
  EXPECT_GT(serializeControl(HelloFromMsg{1, std::string(kMaxNameLength, 'n'),
                                          std::vector<std::uint8_t>(kMaxViaHello, 1)},
                             big),
            0u);
  // Empty, over-long or without a name: not serialized.
  std::array<std::uint8_t, 2048> buf{};
  EXPECT_EQ(serializeControl(HelloViaMsg{"bob", {}}, buf), 0u);
  EXPECT_EQ(serializeControl(HelloViaMsg{"bob", std::vector<std::uint8_t>(kMaxViaHello + 1)}, buf),
            0u);
  EXPECT_EQ(serializeControl(HelloFromMsg{1, "", hello}, buf), 0u);

  std::vector<ControlMessage> msgs = {HelloViaMsg{"bob", {1, 2, 3}},
                                      HelloFromMsg{9, "alice", {4, 5}}};
  for (const auto& m : msgs) {
    auto n = serializeControl(m, buf);
    ASSERT_GT(n, 0u);
    for (std::size_t len = 0; len < n; ++len) {
      EXPECT_FALSE(parseControl(std::span(buf).first(len)).ok()) << m.index() << " " << len;
    }
    EXPECT_FALSE(parseControl(std::span(buf).first(n + 1)).ok()) << m.index();
  }
  // A length field of zero, or over kMaxViaHello with the bytes present, is refused.
  std::vector<std::uint8_t> raw = {11, kRendezvousVersion, 3, 'b', 'o', 'b', 0, 0};
  EXPECT_FALSE(parseControl(raw).ok());
  raw = {11, kRendezvousVersion, 3, 'b', 'o', 'b', 0x04, 0x01};
  raw.resize(raw.size() + kMaxViaHello + 1, 0);
  EXPECT_FALSE(parseControl(raw).ok());
}

}  // namespace
}  // namespace vpn::protocol
