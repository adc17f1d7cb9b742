// Admission at the rendezvous (issue: hold under attack, finding 1): a HELLO from an unproven
// source gets a 24-byte cookie and no state; only a retry echoing it starts TLS, after the
// per-address, per-/64 and global buckets; unpadded first packets get nothing; stalled handshakes
// make room for real ones. Not under load, a few unproven sources a second skip the cookie
// (set-up time) and are answered within a 1x budget.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}

// A first handshake packet as an attacker (or a client) would write it.
std::vector<std::uint8_t> hello(std::uint32_t sender, std::uint32_t packet_id,
                                std::span<const std::uint8_t> payload,
                                const protocol::Cookie* cookie = nullptr, bool padded = true) {
  protocol::HandshakePacket p;
  p.flags = protocol::kFlagHello | protocol::kFlagPayload;
  if (padded) {
    p.flags |= protocol::kFlagPadded;
    p.wire_size = protocol::kMinInitialPacket;
  }
  if (cookie != nullptr) {
    p.flags |= protocol::kFlagCookie;
    p.cookie = *cookie;
  }
  p.sender_index = sender;
  p.packet_id = packet_id;
  p.name = "mallory";
  p.payload = payload;
  std::vector<std::uint8_t> out(protocol::kMaxHandshakePacket);
  out.resize(protocol::serializeHandshake(p, {}, out));
  return out;
}

// Feeds one datagram to the engine (it opens packets in place, so it needs its own copy).
void feed(RvHarness& h, const Endpoint& from, std::vector<std::uint8_t> d) {
  h.engine->onDatagram(h.clock.now(), {}, from, d);
}

// Every unproven source gets a cookie: these tests count what happens behind it (the cookieless
// start is tested on its own below).
rendezvous::RendezvousOptions cookiesAlways() {
  rendezvous::RendezvousOptions o;
  o.cookieless_per_second = 0;
  return o;
}

std::size_t bytesSent(const CollectingRvSink& sink) {
  std::size_t n = 0;
  for (const auto& d : sink.sent) {
    n += d.bytes.size();
  }
  return n;
}

// Finding 1: before, each of these held a pending slot (and an SSL object) for 10 s, and 1024 of
// them locked every peer out. Now none holds anything, the answers are smaller than the flood,
// and a real peer registers in the middle of it.
TEST(RendezvousAdmission, SpoofedHelloFloodHoldsNoStateAndARealPeerRegisters) {
  RvHarness h(cookiesAlways());
  std::mt19937_64 rng(1);
  std::vector<std::uint8_t> junk(200);
  for (auto& b : junk) {
    b = static_cast<std::uint8_t>(rng());
  }
  std::size_t in = 0;
  // Every third starts the stream (packet id 1) and is answered with a cookie; the others are
  // later chunks, which cannot start a handshake and get nothing.
  for (int i = 0; i < 5000; ++i) {
    auto d = hello(static_cast<std::uint32_t>(rng() | 1), 1 + static_cast<std::uint32_t>(i % 3),
                   junk);
    in += d.size();
    Endpoint from(protocol::IpAddress::v4(static_cast<std::uint32_t>(rng())),
                  static_cast<std::uint16_t>(1024 + i));
    h.engine->onDatagram(h.clock.now(), {}, from, d);
  }
  auto st = h.engine->status(h.clock.now(), false);
  EXPECT_EQ(st.pending_handshakes, 0u);
  EXPECT_EQ(st.counters.cookie_replies, 1667u);
  EXPECT_EQ(h.dropCount("malformed"), 3333u);
  EXPECT_LE(bytesSent(h.sink), in / 40);  // 24 bytes for each 1200
  h.sink.sent.clear();

  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, ep("198.51.100.7:40001"));
  h.start(alice);
  EXPECT_TRUE(alice.peer->established());
  EXPECT_EQ(alice.peer->cookie_replies, 1u);
  EXPECT_EQ(h.engine->status(h.clock.now(), false).sessions, 1u);
}

TEST(RendezvousAdmission, UnpaddedOrBadlyCookiedHellosGetNoState) {
  RvHarness h(cookiesAlways());
  std::vector<std::uint8_t> payload(100, 0x16);
  auto from = ep("203.0.113.9:5000");
  feed(h, from, hello(7, 1, payload, nullptr, false));
  EXPECT_EQ(h.dropCount("unpadded"), 1u);
  EXPECT_TRUE(h.sink.sent.empty());  // not even a cookie: it would be larger than a short packet

  protocol::Cookie forged{};
  auto d = hello(7, 1, payload, &forged);
  h.engine->onDatagram(h.clock.now(), {}, from, d);
  EXPECT_EQ(h.dropCount("bad_cookie"), 1u);
  ASSERT_EQ(h.sink.sent.size(), 1u);  // a fresh cookie, in case ours rotated away
  EXPECT_EQ(h.sink.sent[0].bytes.size(), protocol::kCookieReplySize);
  EXPECT_EQ(h.engine->status(h.clock.now(), false).pending_handshakes, 0u);

  // The real cookie, for another index or from another port, is no good either.
  auto reply = protocol::parseCookieReply(h.sink.sent[0].bytes);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->receiver_index, 7u);
  feed(h, from, hello(8, 1, payload, &reply->cookie));
  feed(h, ep("203.0.113.9:5001"), hello(7, 1, payload, &reply->cookie));
  EXPECT_EQ(h.dropCount("bad_cookie"), 3u);
  // With it, from the right place: a handshake starts (and fails on the junk TLS bytes).
  feed(h, from, hello(7, 1, payload, &reply->cookie));
  EXPECT_EQ(h.dropCount("bad_cookie"), 3u);
  EXPECT_EQ(h.dropCount("handshake_failed"), 1u);
}

// One IPv6 host can send from every address of its /64: they share one bucket.
TEST(RendezvousAdmission, OneSlashSixtyFourSharesOneBucket) {
  rendezvous::RendezvousOptions o = cookiesAlways();
  o.handshake_network_burst = 4;
  o.handshake_network_per_second = 0.001;
  RvHarness h(o);
  for (int i = 0; i < 10; ++i) {
    std::string addr = "[2001:db8:5:6::" + std::to_string(100 + i) + "]:4000";
    auto& n = h.addPeer("p" + std::to_string(i), {}, ep(addr.c_str()));
    h.start(n);
  }
  EXPECT_EQ(h.engine->status(h.clock.now(), false).sessions, 4u);
  EXPECT_EQ(h.dropCount("rate_limited_network"), 6u);
  auto& other = h.addPeer("other", {}, ep("[2001:db8:5:7::1]:4000"));
  h.start(other);
  EXPECT_TRUE(other.peer->established());
}

TEST(RendezvousAdmission, GlobalHandshakeRate) {
  rendezvous::RendezvousOptions o = cookiesAlways();
  o.handshake_global_burst = 3;
  o.handshake_global_per_second = 0.001;
  RvHarness h(o);
  for (int i = 0; i < 5; ++i) {
    auto& n = h.addPeer("p" + std::to_string(i), {},
                        Endpoint(protocol::IpAddress::v4(0xC0000200u + static_cast<unsigned>(i)),
                                 4000));
    h.start(n);
  }
  EXPECT_EQ(h.engine->status(h.clock.now(), false).sessions, 3u);
  EXPECT_EQ(h.dropCount("handshake_rate_global"), 2u);
}

// A ClientHello that never completes (its second chunk never comes) holds a slot that TLS never
// answers; once a second old, it gives way to a peer that needs the room.
TEST(RendezvousAdmission, StalledHandshakeGivesWayWhenTheTableIsFull) {
  rendezvous::RendezvousOptions o = cookiesAlways();
  o.max_pending_handshakes = 2;
  RvHarness h(o);
  // A TLS record header announcing a 2000-byte ClientHello, and only its start.
  std::vector<std::uint8_t> partial = {0x16, 0x03, 0x01, 0x07, 0xD0, 0x01, 0x00, 0x07, 0xCC};
  partial.resize(300, 0x00);
  for (std::uint32_t i = 0; i < 2; ++i) {
    Endpoint from(protocol::IpAddress::v4(0xCB007100u + i), 6000);
    feed(h, from, hello(100 + i, 1, partial));
    auto reply = protocol::parseCookieReply(h.sink.sent.back().bytes);
    ASSERT_TRUE(reply.ok());
    feed(h, from, hello(100 + i, 1, partial, &reply->cookie));
  }
  h.sink.sent.clear();
  EXPECT_EQ(h.engine->status(h.clock.now(), false).pending_handshakes, 2u);
  auto& early = h.addPeer("early", {}, ep("198.51.100.20:4000"));
  h.start(early);
  EXPECT_FALSE(early.peer->established());
  EXPECT_EQ(h.dropCount("pending_full"), 1u);
  h.clock.advance(milliseconds(1100));
  auto& alice = h.addPeer("alice", {}, ep("198.51.100.21:4000"));
  h.start(alice);
  EXPECT_TRUE(alice.peer->established());
  EXPECT_EQ(h.engine->status(h.clock.now(), false).counters.pending_evicted, 1u);
}

// Not under load, a new peer registers without the cookie round trip.
TEST(RendezvousAdmission, ANewSourceRegistersWithoutACookieWhenNotUnderLoad) {
  RvHarness h;
  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, ep("198.51.100.7:40001"));
  h.start(alice);
  EXPECT_TRUE(alice.peer->established());
  EXPECT_EQ(alice.peer->cookie_replies, 0u);
  auto st = h.engine->status(h.clock.now(), false);
  EXPECT_EQ(st.counters.cookieless, 1u);
  EXPECT_EQ(st.counters.cookie_replies, 0u);
}

// A real ClientHello with a victim's source address: the server's flight and every
// retransmission of it, until the handshake times out, add up to no more than the HELLO.
TEST(RendezvousAdmission, ACookielessAnswerToASpoofedSourceStaysWithinOneX) {
  RvHarness h;
  auto& victim = h.addPeer("mallory", {"10.42.0.66/24"}, ep("192.0.2.66:5000"));
  RvHarness::NodeSink s(h, victim);
  victim.peer->start(h.clock.now(), s);
  std::size_t in = 0;
  for (auto& [from, bytes] : h.to_engine) {
    in += bytes.size();
    h.engine->onDatagram(h.clock.now(), {}, from, bytes);
  }
  h.to_engine.clear();
  ASSERT_GT(in, 0u);
  std::size_t out = 0;
  for (int i = 0; i < 120; ++i) {  // 12 s: past the 10 s handshake timeout
    for (const auto& d : h.sink.sent) {
      if (d.to.address() == victim.observed.address()) {
        out += d.bytes.size();
      }
    }
    h.sink.sent.clear();
    h.clock.advance(milliseconds(100));
    if (h.engine->nextDeadline() <= h.clock.now()) {
      h.engine->onTimer(h.clock.now());
    }
  }
  EXPECT_GT(out, 0u);  // it did answer (no cookie)
  EXPECT_LE(out, in);
  EXPECT_EQ(h.engine->status(h.clock.now(), false).counters.cookieless, 1u);
  EXPECT_EQ(h.engine->status(h.clock.now(), false).pending_handshakes, 0u);
}

// The cookieless bucket is shared by all unproven sources; once it is empty, or a quarter of the
// slots are in use, sources get a cookie again and still register.
TEST(RendezvousAdmission, CookielessStartsAreBoundedAndStopUnderLoad) {
  rendezvous::RendezvousOptions o;
  o.cookieless_burst = 2;
  o.cookieless_per_second = 0.001;
  RvHarness h(o);
  for (int i = 0; i < 4; ++i) {
    auto& n = h.addPeer("p" + std::to_string(i), {},
                        Endpoint(protocol::IpAddress::v4(0xC0000200u + static_cast<unsigned>(i)),
                                 4000));
    h.start(n);
    EXPECT_TRUE(n.peer->established()) << i;
    EXPECT_EQ(n.peer->cookie_replies, i < 2 ? 0u : 1u) << i;
  }
  EXPECT_EQ(h.engine->status(h.clock.now(), false).counters.cookieless, 2u);

  // Under load: 4 slots, one pending handshake is a quarter of them.
  rendezvous::RendezvousOptions l;
  l.max_pending_handshakes = 4;
  RvHarness h2(l);
  std::vector<std::uint8_t> partial = {0x16, 0x03, 0x01, 0x07, 0xD0, 0x01, 0x00, 0x07, 0xCC};
  partial.resize(300, 0x00);
  feed(h2, ep("203.0.113.50:6000"), hello(100, 1, partial));  // starts without a cookie, stalls
  ASSERT_EQ(h2.engine->status(h2.clock.now(), false).pending_handshakes, 1u);
  auto& bob = h2.addPeer("bob", {}, ep("198.51.100.30:4000"));
  h2.start(bob);
  EXPECT_TRUE(bob.peer->established());
  EXPECT_EQ(bob.peer->cookie_replies, 1u);
  EXPECT_EQ(h2.engine->status(h2.clock.now(), false).counters.cookieless, 1u);
}

// HELLOs spoofed from a victim's address start cookieless handshakes, but are not charged to the
// victim's per-address bucket: the victim registers afterwards.
TEST(RendezvousAdmission, SpoofedCookielessHellosDoNotDrainTheVictimsBucket) {
  rendezvous::RendezvousOptions o;
  o.handshake_burst = 2;
  o.handshake_per_second = 0.001;
  RvHarness h(o);
  std::vector<std::uint8_t> junk(200, 0x16);
  for (std::uint32_t i = 0; i < 40; ++i) {
    feed(h, ep("198.51.100.40:4000"), hello(500 + i, 1, junk));
  }
  EXPECT_EQ(h.engine->status(h.clock.now(), false).counters.cookieless, 16u);
  EXPECT_EQ(h.dropCount("rate_limited"), 0u);
  auto& victim = h.addPeer("alice", {}, ep("198.51.100.40:4001"));
  h.start(victim);
  EXPECT_TRUE(victim.peer->established());
  EXPECT_EQ(victim.peer->cookie_replies, 1u);
}

}  // namespace
}  // namespace vpn::test
