// The engine's STUN reflector: Binding answered with XOR-MAPPED-ADDRESS, RFC 5780 CHANGE-REQUEST
// answered from the right socket with RESPONSE-ORIGIN / OTHER-ADDRESS, and errors for what we
// cannot do. Over a TCP connection: Binding answered on that connection, nothing else. Classic
// (RFC 3489) Binding requests: answered with their 128-bit id, MAPPED-ADDRESS, SOURCE-ADDRESS and
// CHANGED-ADDRESS, CHANGE-REQUEST honoured, RESPONSE-ADDRESS refused.
#include <gtest/gtest.h>

#include <algorithm>

#include "protocol/packet_type.hpp"
#include "protocol/stun.hpp"
#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;
using rendezvous::SocketId;
using rendezvous::SocketRole;

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}

// Padded as netcheck pads its requests, so answers are never larger (see the amplification tests
// below for unpadded ones).
std::vector<std::uint8_t> request(bool change_ip, bool change_port, std::size_t pad_to =
                                      protocol::kStunPaddedRequestSize) {
  protocol::BindingRequestParams p;
  p.pad_to = pad_to;
  for (std::size_t i = 0; i < p.transaction_id.size(); ++i) {
    p.transaction_id[i] = static_cast<std::uint8_t>(i + 1);
  }
  p.change_ip = change_ip;
  p.change_port = change_port;
  std::vector<std::uint8_t> out(protocol::kStunMaxBuiltSize);
  out.resize(protocol::buildBindingRequest(p, out));
  return out;
}

rendezvous::RendezvousOptions fullGrid() {
  rendezvous::RendezvousOptions o;
  o.listen = {ep("0.0.0.0:3478"), ep("203.0.113.1:3478")};
  o.stun_listen = 1;
  o.alt_port = 3479;
  o.alt_address = protocol::IpAddress::parse("203.0.113.2");
  return o;
}

struct Answer {
  SocketId from;
  protocol::StunMessage msg;
};

Answer ask(RvHarness& h, SocketId on, std::vector<std::uint8_t> req, const Endpoint& from) {
  h.sink.sent.clear();
  h.engine->onDatagram(h.clock.now(), on, from, req);
  EXPECT_EQ(h.sink.sent.size(), 1u);
  if (h.sink.sent.empty()) {
    return {};
  }
  auto& d = h.sink.sent.front();
  EXPECT_EQ(d.to, from);
  auto parsed = protocol::parseStun(d.bytes);
  EXPECT_TRUE(parsed.ok());
  return Answer{d.from, parsed.ok() ? *parsed : protocol::StunMessage{}};
}

// A classic Binding request: no magic cookie, a 128-bit transaction id (bytes 4..19), and
// optionally CHANGE-REQUEST (flags) and RESPONSE-ADDRESS (0x0002, aimed at `respond_to`).
std::vector<std::uint8_t> classicRequest(std::uint32_t change_flags,
                                         const Endpoint* respond_to = nullptr) {
  std::vector<std::uint8_t> r = {0x00, 0x01, 0x00, 0x00};
  for (std::uint8_t i = 0; i < 16; ++i) {
    r.push_back(static_cast<std::uint8_t>(0xA0 + i));
  }
  if (change_flags != 0) {
    r.insert(r.end(), {0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00,
                       static_cast<std::uint8_t>(change_flags)});
  }
  if (respond_to != nullptr) {
    auto a = respond_to->address().bytes();
    r.insert(r.end(), {0x00, 0x02, 0x00, 0x08, 0x00, 0x01,
                       static_cast<std::uint8_t>(respond_to->port() >> 8),
                       static_cast<std::uint8_t>(respond_to->port())});
    r.insert(r.end(), a, a + 4);
  }
  r[3] = static_cast<std::uint8_t>(r.size() - 20);
  return r;
}

struct ClassicAnswer {
  SocketId from;
  Endpoint to;
  std::vector<std::uint8_t> bytes;
  protocol::StunMessage msg;
};

ClassicAnswer askClassic(RvHarness& h, SocketId on, const std::vector<std::uint8_t>& req,
                         const Endpoint& from) {
  h.sink.sent.clear();
  auto copy = req;
  EXPECT_EQ(protocol::classify(copy), protocol::PacketFamily::kStun);
  h.engine->onDatagram(h.clock.now(), on, from, copy);
  EXPECT_EQ(h.sink.sent.size(), 1u);
  if (h.sink.sent.empty()) {
    return {};
  }
  auto& d = h.sink.sent.front();
  auto parsed = protocol::parseStun(d.bytes, true);
  EXPECT_TRUE(parsed.ok());
  return ClassicAnswer{d.from, d.to, d.bytes, parsed.ok() ? *parsed : protocol::StunMessage{}};
}

TEST(RendezvousStun, ClassicRequestsAreAnsweredTheRfc3489Way) {
  RvHarness h(fullGrid());
  Endpoint client = ep("198.51.100.7:40001");
  SocketId primary{SocketRole::kPrimary, 1};
  auto req = classicRequest(0);

  auto a = askClassic(h, primary, req, client);
  EXPECT_TRUE(a.msg.classic);
  EXPECT_EQ(a.msg.type, protocol::kStunBindingSuccess);
  EXPECT_EQ(a.to, client);
  ASSERT_GE(a.bytes.size(), 20u);
  EXPECT_TRUE(std::equal(req.begin() + 4, req.begin() + 20, a.bytes.begin() + 4))
      << "the 128-bit transaction id is echoed";
  EXPECT_EQ(a.msg.mapped, client);
  EXPECT_FALSE(a.msg.xor_mapped.has_value());
  EXPECT_EQ(a.msg.response_origin, ep("203.0.113.1:3478"));  // SOURCE-ADDRESS
  EXPECT_EQ(a.msg.other_address, ep("203.0.113.2:3479"));    // CHANGED-ADDRESS
  EXPECT_TRUE(a.msg.software.empty());
  EXPECT_FALSE(a.msg.has_fingerprint);

  // Test II and III of RFC 3489 section 10.1: change IP and port, change port only.
  auto both = askClassic(h, primary, classicRequest(0x06), client);
  EXPECT_EQ(both.from, (SocketId{SocketRole::kAltBoth, 1}));
  EXPECT_EQ(both.msg.response_origin, ep("203.0.113.2:3479"));
  EXPECT_EQ(both.msg.mapped, client);
  auto port = askClassic(h, primary, classicRequest(0x02), client);
  EXPECT_EQ(port.from, (SocketId{SocketRole::kAltPort, 1}));
  EXPECT_EQ(port.msg.response_origin, ep("203.0.113.1:3479"));
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.stun_requests, 3u);
}

TEST(RendezvousStun, ClassicResponseAddressIsRefusedNotFollowed) {
  RvHarness h(fullGrid());
  Endpoint client = ep("198.51.100.7:40001");
  Endpoint victim = ep("192.0.2.99:53");
  auto a = askClassic(h, SocketId{SocketRole::kPrimary, 1}, classicRequest(0, &victim), client);
  EXPECT_EQ(a.to, client);  // never to the address the request names
  EXPECT_EQ(a.msg.type, protocol::kStunBindingError);
  ASSERT_TRUE(a.msg.error.has_value());
  EXPECT_EQ(a.msg.error->code, 420);
  ASSERT_EQ(a.msg.unknown_attributes_count, 1u);
  EXPECT_EQ(a.msg.unknown_attributes[0], 0x0002);
  EXPECT_TRUE(a.msg.classic);
}

TEST(RendezvousStun, ClassicChangeRequestWithoutAlternatesIsRefused) {
  RvHarness h;
  auto a = askClassic(h, SocketId{}, classicRequest(0x04), ep("198.51.100.7:40001"));
  EXPECT_EQ(a.msg.type, protocol::kStunBindingError);
  ASSERT_TRUE(a.msg.error.has_value());
  EXPECT_EQ(a.msg.error->code, 420);
}

TEST(RendezvousStun, BindingRequestGetsTheMappedAddress) {
  RvHarness h;
  Endpoint client = ep("198.51.100.7:40001");
  auto a = ask(h, SocketId{}, request(false, false), client);
  EXPECT_EQ(a.msg.type, protocol::kStunBindingSuccess);
  EXPECT_EQ(a.msg.xor_mapped, client);
  EXPECT_EQ(a.from, SocketId{});
  EXPECT_FALSE(a.msg.other_address.has_value());
  EXPECT_FALSE(a.msg.response_origin.has_value());  // no listen endpoints known
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.stun_requests, 1u);
}

TEST(RendezvousStun, ChangeRequestWithoutAlternatesIsRefused) {
  RvHarness h;
  auto a = ask(h, SocketId{}, request(false, true), ep("198.51.100.7:40001"));
  EXPECT_EQ(a.msg.type, protocol::kStunBindingError);
  ASSERT_TRUE(a.msg.error.has_value());
  EXPECT_EQ(a.msg.error->code, 420);
}

TEST(RendezvousStun, ChangeRequestsLeaveFromTheAlternateSockets) {
  RvHarness h(fullGrid());
  Endpoint client = ep("198.51.100.7:40001");
  SocketId primary{SocketRole::kPrimary, 1};

  auto plain = ask(h, primary, request(false, false), client);
  EXPECT_EQ(plain.from, primary);
  EXPECT_EQ(plain.msg.response_origin, ep("203.0.113.1:3478"));
  EXPECT_EQ(plain.msg.other_address, ep("203.0.113.2:3479"));

  auto port = ask(h, primary, request(false, true), client);
  EXPECT_EQ(port.from, (SocketId{SocketRole::kAltPort, 1}));
  EXPECT_EQ(port.msg.response_origin, ep("203.0.113.1:3479"));
  EXPECT_EQ(port.msg.xor_mapped, client);

  auto ip = ask(h, primary, request(true, false), client);
  EXPECT_EQ(ip.from, (SocketId{SocketRole::kAltAddress, 1}));
  EXPECT_EQ(ip.msg.response_origin, ep("203.0.113.2:3478"));

  auto both = ask(h, primary, request(true, true), client);
  EXPECT_EQ(both.from, (SocketId{SocketRole::kAltBoth, 1}));
  EXPECT_EQ(both.msg.response_origin, ep("203.0.113.2:3479"));

  // A request that arrived on the alternate port flips back to the primary port.
  auto back = ask(h, SocketId{SocketRole::kAltPort, 1}, request(false, true), client);
  EXPECT_EQ(back.from, primary);
  EXPECT_EQ(back.msg.other_address, ep("203.0.113.2:3478"));
}

TEST(RendezvousStun, ResponsePortRedirectsToAnotherPortOfTheSameAddress) {
  RvHarness h;
  protocol::BindingRequestParams p;
  p.transaction_id.fill(9);
  std::vector<std::uint8_t> req(protocol::kStunMaxBuiltSize);
  protocol::StunBuildOptions no_fp;
  no_fp.fingerprint = false;
  req.resize(protocol::buildBindingRequest(p, req, no_fp));
  // RESPONSE-PORT 40999 (type 0x0027, length 4: port + 2 bytes padding).
  const std::uint8_t attr[] = {0x00, 0x27, 0x00, 0x04, 0xA0, 0x27, 0x00, 0x00};
  req.insert(req.end(), std::begin(attr), std::end(attr));
  req[3] = static_cast<std::uint8_t>(req.size() - protocol::kStunHeaderSize);
  h.engine->onDatagram(h.clock.now(), SocketId{}, ep("198.51.100.7:40001"), req);
  ASSERT_EQ(h.sink.sent.size(), 1u);
  EXPECT_EQ(h.sink.sent.front().to, ep("198.51.100.7:40999"));
  auto m = protocol::parseStun(h.sink.sent.front().bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, protocol::kStunBindingSuccess);
  EXPECT_EQ(m->xor_mapped, ep("198.51.100.7:40001"));
}

TEST(RendezvousStun, WildcardListenSocketOutsideTheGridCannotChange) {
  RvHarness h(fullGrid());
  auto a = ask(h, SocketId{SocketRole::kPrimary, 0}, request(true, false), ep("192.0.2.1:5"));
  EXPECT_EQ(a.msg.type, protocol::kStunBindingError);
  auto b = ask(h, SocketId{SocketRole::kPrimary, 0}, request(false, false), ep("192.0.2.1:5"));
  EXPECT_EQ(b.msg.type, protocol::kStunBindingSuccess);
  EXPECT_FALSE(b.msg.response_origin.has_value());
}

TEST(RendezvousStun, OverTcpBindingIsAnsweredOnTheConnectionWithoutTheGrid) {
  RvHarness h(fullGrid());
  SocketId conn{SocketRole::kTcp, 1, 42};
  Endpoint client = ep("198.51.100.7:50123");
  auto a = ask(h, conn, request(false, false), client);
  EXPECT_EQ(a.from, conn);
  EXPECT_EQ(a.msg.type, protocol::kStunBindingSuccess);
  EXPECT_EQ(a.msg.xor_mapped, client);
  EXPECT_FALSE(a.msg.response_origin.has_value());
  EXPECT_FALSE(a.msg.other_address.has_value());
  // No change of address or port over TCP, even with the full grid.
  auto c = ask(h, conn, request(true, true), client);
  EXPECT_EQ(c.from, conn);
  EXPECT_EQ(c.msg.type, protocol::kStunBindingError);
  ASSERT_TRUE(c.msg.error.has_value());
  EXPECT_EQ(c.msg.error->code, 420);
  // RESPONSE-PORT is UDP-only (RFC 5780): 420 as well, and still on the connection.
  protocol::BindingRequestParams p;
  p.transaction_id.fill(3);
  std::vector<std::uint8_t> req(protocol::kStunMaxBuiltSize);
  protocol::StunBuildOptions no_fp;
  no_fp.fingerprint = false;
  req.resize(protocol::buildBindingRequest(p, req, no_fp));
  const std::uint8_t attr[] = {0x00, 0x27, 0x00, 0x04, 0xA0, 0x27, 0x00, 0x00};
  req.insert(req.end(), std::begin(attr), std::end(attr));
  req[3] = static_cast<std::uint8_t>(req.size() - protocol::kStunHeaderSize);
  auto r = ask(h, conn, req, client);
  EXPECT_EQ(r.from, conn);
  ASSERT_TRUE(r.msg.error.has_value());
  EXPECT_EQ(r.msg.error->code, 420);
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.stun_requests, 1u);
}

TEST(RendezvousStun, AlternateSocketsServeOnlyStun) {
  RvHarness h(fullGrid());
  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, ep("198.51.100.7:40001"));
  RvHarness::NodeSink s(h, alice);
  alice.peer->start(h.clock.now(), s);
  for (auto& d : h.to_engine) {
    h.engine->onDatagram(h.clock.now(), SocketId{SocketRole::kAltPort, 1}, alice.observed,
                         d.second);
  }
  h.to_engine.clear();
  EXPECT_TRUE(h.sink.sent.empty());
  EXPECT_EQ(h.dropCount("unknown_family"), 1u);
}

// Finding 3 for STUN: a 20-byte request drew 76-148 bytes at any rate. A padded request is
// answered at no more than its size; an unpadded one only within small allowances, so a flood from
// spoofed sources is reflected at less than 1x in total.
TEST(RendezvousStun, PaddedRequestsAreAnsweredAtOneToOne) {
  RvHarness h(fullGrid());
  SocketId primary{SocketRole::kPrimary, 1};
  auto client = ep("198.51.100.9:5000");
  for (bool ip : {false, true}) {
    for (bool port : {false, true}) {
      auto req = request(ip, port);
      auto r = ask(h, primary, req, client);
      EXPECT_LE(h.sink.sent.front().bytes.size(), req.size());
      EXPECT_FALSE(r.msg.error.has_value());
    }
  }
  auto v6 = ep("[2001:db8::9]:5000");
  auto req = request(false, false);
  ask(h, primary, req, v6);
  EXPECT_LE(h.sink.sent.front().bytes.size(), req.size());
}

TEST(RendezvousStun, SpoofedFloodOfShortRequestsIsReflectedAtUnderOneToOne) {
  RvHarness h(fullGrid());
  SocketId primary{SocketRole::kPrimary, 1};
  std::size_t in = 0;
  for (std::uint32_t i = 0; i < 20000; ++i) {
    auto req = request(false, false, 0);  // classic: header, SOFTWARE-less, FINGERPRINT
    in += req.size();
    Endpoint from(protocol::IpAddress::v4(0xC6330000u + i), 3478);
    h.engine->onDatagram(h.clock.now() + milliseconds(i / 20), primary, from, req);  // 1 s
  }
  std::size_t out = 0;
  for (const auto& d : h.sink.sent) {
    out += d.bytes.size();
  }
  EXPECT_GT(out, 0u);  // some are still answered: a classic client keeps working
  EXPECT_LT(out, in);
  EXPECT_GT(h.dropCount("stun_amplification"), 0u);
}

TEST(RendezvousStun, OneAddressIsRateLimitedWhatever) {
  RvHarness h(fullGrid());
  SocketId primary{SocketRole::kPrimary, 1};
  auto client = ep("198.51.100.9:5000");
  std::size_t answered = 0;
  for (int i = 0; i < 100; ++i) {
    h.sink.sent.clear();
    auto req = request(false, false);
    h.engine->onDatagram(h.clock.now(), primary, client, req);
    answered += h.sink.sent.size();
  }
  EXPECT_EQ(answered, 20u);  // the burst
  EXPECT_EQ(h.dropCount("stun_rate_limited"), 80u);
  // A short request from a fresh address: answered within its own small allowance.
  h.sink.sent.clear();
  auto req = request(false, false, 0);
  h.engine->onDatagram(h.clock.now(), primary, ep("198.51.100.10:5000"), req);
  EXPECT_EQ(h.sink.sent.size(), 1u);
}

}  // namespace
}  // namespace vpn::test
