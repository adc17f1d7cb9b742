// Unauthenticated packets against a handshake in progress (issue: hold under attack, finding 2):
// forged KICKs and ClientHellos, from the peer's own address or from elsewhere, sent before every
// retry. None may replace or redirect the real attempt; the real pair connects as if alone.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "protocol/handshake_packet.hpp"
#include "protocol/packet_type.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

// A host that only listens: what the attacker receives at its own address (cookie replies).
class Listener final : public SimHost {
 public:
  void onDatagram(Instant, const protocol::Endpoint&, std::span<std::uint8_t> bytes) override {
    received.emplace_back(bytes.begin(), bytes.end());
  }
  void onTimer(Instant) override {}
  Instant nextDeadline() const override { return kNever; }
  std::vector<std::vector<std::uint8_t>> received;
};

std::vector<std::uint8_t> forged(std::uint8_t flags, std::uint32_t sender, const char* name,
                                 std::span<const std::uint8_t> payload = {},
                                 const protocol::Cookie* cookie = nullptr) {
  protocol::HandshakePacket p;
  p.flags = flags | protocol::kFlagHello | protocol::kFlagPadded;
  p.wire_size = protocol::kMinInitialPacket;
  p.sender_index = sender;
  p.name = name;
  if (!payload.empty()) {
    p.flags |= protocol::kFlagPayload;
    p.packet_id = 1;
    p.payload = payload;
  }
  if (cookie != nullptr) {
    p.flags |= protocol::kFlagCookie;
    p.cookie = *cookie;
  }
  std::vector<std::uint8_t> out(protocol::kMaxHandshakePacket);
  out.resize(protocol::serializeHandshake(p, {}, out));
  return out;
}

// Runs the pair while `attack` fires every `period` (well inside one round trip of the 10 ms
// link); true once both sides are established.
template <typename Fn>
bool connectUnderAttack(TwoPeers& t, Fn&& attack, Duration limit,
                        Duration period = milliseconds(2)) {
  Instant end = t.clock.now() + limit;
  while (t.clock.now() < end) {
    attack();
    if (t.net.runUntil([&] { return t.bothEstablished(); }, period)) {
      return true;
    }
  }
  return false;
}

// Before: each forged KICK "from bob" re-addressed or replaced alice's ClientHello, and a KICK
// before every retry kept alice from ever connecting.
TEST(HandshakeAttack, ForgedKicksFromThePeersAddressDoNotDerailTheClient) {
  TwoPeers t;
  t.a.startEngine(*t.ctx_a, t.opts_a);
  t.net.runFor(milliseconds(50));  // alice's ClientHello is out; bob is not up yet
  t.b.startEngine(*t.ctx_b, t.opts_b);
  std::mt19937 rng(3);
  bool ok = connectUnderAttack(
      t,
      [&] { t.net.inject(t.ep_b, t.ep_a, forged(protocol::kFlagKick, static_cast<std::uint32_t>(rng() | 1u), "bob")); },
      seconds(5));
  EXPECT_TRUE(ok);
  t.expectDataFlows();
}

TEST(HandshakeAttack, ForgedKicksFromElsewhereRunBesideTheRealAttempt) {
  TwoPeers t;
  t.start();
  std::mt19937 rng(4);
  auto elsewhere = ep("203.0.113.66:4444");
  std::size_t in = 0, out = 0;
  t.net.on_send = [&](const Datagram& d) {
    if (d.from == t.ep_a && d.to == elsewhere) {
      out += d.bytes.size();
    }
  };
  bool ok = connectUnderAttack(
      t,
      [&] {
        auto kick = forged(protocol::kFlagKick, static_cast<std::uint32_t>(rng() | 1u), "bob");
        in += kick.size();
        t.net.inject(elsewhere, t.ep_a, kick);
      },
      seconds(5));
  t.net.on_send = nullptr;
  EXPECT_TRUE(ok);
  EXPECT_EQ(t.bobAtAlice().endpoint, t.ep_b);
  // Alice answered some kicks with a ClientHello, never more bytes than the kicks brought.
  EXPECT_GT(out, 0u);
  EXPECT_LE(out, in);
  t.expectDataFlows();
}

// Before: a ClientHello naming alice, from any address, replaced bob's pending handshake with
// alice; one before each of alice's retries kept her out. Now the forger must first get a cookie
// at its own address, and what it starts is a second attempt that never touches the real one.
TEST(HandshakeAttack, ForgedClientHellosWithTheirOwnCookieNeverReplaceTheRealAttempt) {
  TwoPeers t;
  Listener mallory;
  auto at = ep("203.0.113.66:4444");
  t.net.addHost(at, &mallory);
  t.b.startEngine(*t.ctx_b, t.opts_b);
  t.net.runFor(milliseconds(50));  // bob kicks alice, who is not up yet
  t.a.startEngine(*t.ctx_a, t.opts_a);
  std::vector<std::uint8_t> junk(300, 0x16);
  std::mt19937 rng(5);
  std::uint64_t rivals = 0;
  bool ok = connectUnderAttack(
      t,
      [&] {
        std::uint32_t index = static_cast<std::uint32_t>(rng() | 1u);
        mallory.received.clear();
        t.net.sendFrom(at, t.ep_b, forged(0, index, "alice", junk));
        t.net.runFor(milliseconds(20));  // the forger's own round trip for its cookie
        for (const auto& d : mallory.received) {
          auto c = protocol::parseCookieReply(d);
          if (c.ok() && c->receiver_index == index) {
            t.net.sendFrom(at, t.ep_b, forged(0, index, "alice", junk, &c->cookie));
            ++rivals;
          }
        }
      },
      seconds(5));
  EXPECT_TRUE(ok);
  EXPECT_GT(rivals, 0u);
  EXPECT_EQ(t.aliceAtBob().endpoint, t.ep_a);
  t.expectDataFlows();
}

// A forged ClientHello without a cookie costs bob 24 bytes and nothing else, at any rate.
TEST(HandshakeAttack, ClientHelloFloodFromSpoofedSourcesIsAnsweredSmallAndStateless) {
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  std::size_t in = 0, out = 0;
  t.net.on_send = [&](const Datagram& d) {
    if (d.from == t.ep_b && protocol::classify(d.bytes) == protocol::PacketFamily::kCookieReply) {
      out += d.bytes.size();
    }
  };
  std::vector<std::uint8_t> junk(300, 0x16);
  for (std::uint32_t i = 0; i < 2000; ++i) {
    protocol::Endpoint from(protocol::IpAddress::v4(0xC6120000u + i), 1024);
    auto d = forged(0, i + 1, "alice", junk);
    in += d.size();
    t.net.inject(from, t.ep_b, d);
  }
  t.net.runFor(milliseconds(200));
  t.net.on_send = nullptr;
  EXPECT_LE(out * 40, in);
  EXPECT_EQ(t.b.status().handshake_attempts, 0u);
  t.expectDataFlows();
}

}  // namespace
}  // namespace vpn::test
