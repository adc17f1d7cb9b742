// A rendezvous with a network key (docs/hardening.md, "Network key"): plain handshakes and STUN
// get no answer (without a key the same packets are answered: the control), sealed ones are
// answered sealed, and ones sealed with another key get nothing. Each case is counted by reason.
#include <gtest/gtest.h>

#include "crypto/network_key.hpp"
#include "crypto/random.hpp"
#include "protocol/sealed_packet.hpp"
#include "protocol/stun.hpp"
#include "session/outer_seal.hpp"
#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;

crypto::NetworkKey randomKey() {
  std::array<std::uint8_t, 32> raw{};
  crypto::randomBytes(raw);
  return crypto::NetworkKey(crypto::NetworkKey::Source::kFile, raw);
}

rendezvous::RendezvousOptions keyed(std::optional<crypto::NetworkKey> key) {
  rendezvous::RendezvousOptions ro;
  ro.listen = {*Endpoint::parse("203.0.113.1:3478")};
  ro.network_key = std::move(key);
  ro.cookieless_per_second = 0;  // a HELLO from a new source draws a cookie
  return ro;
}

std::vector<std::uint8_t> helloPacket() {
  std::vector<std::uint8_t> tls(230, 0x16);
  protocol::HandshakePacket p;
  p.flags = protocol::kFlagHello | protocol::kFlagPayload | protocol::kFlagPadded;
  p.wire_size = protocol::kMinInitialPacket;
  p.sender_index = 77;
  p.packet_id = 1;
  p.name = "mallory";
  p.payload = tls;
  std::vector<std::uint8_t> out(protocol::kMaxHandshakePacket);
  out.resize(protocol::serializeHandshake(p, {}, out));
  return out;
}

std::uint64_t dropCount(RvHarness& h, const std::string& reason) {
  for (const auto& [r, n] : h.engine->status(h.clock.now(), false).drops) {
    if (r == reason) {
      return n;
    }
  }
  return 0;
}

std::vector<std::uint8_t> sealWith(session::OuterSeal& seal, std::span<const std::uint8_t> b) {
  std::vector<std::uint8_t> out(protocol::kMaxSealedPacket);
  out.resize(seal.seal(b, out));
  return out;
}

const Endpoint kSource = *Endpoint::parse("198.51.100.9:40000");

TEST(RendezvousNetworkKey, PlainHelloGetsACookieOnlyWithoutAKey) {
  auto hello = helloPacket();
  RvHarness open(keyed(std::nullopt));
  open.engine->onDatagram(open.clock.now(), {}, kSource, hello);
  EXPECT_EQ(open.sink.sent.size(), 1u);  // the control: a cookie reply

  hello = helloPacket();
  RvHarness closed(keyed(randomKey()));
  closed.engine->onDatagram(closed.clock.now(), {}, kSource, hello);
  EXPECT_TRUE(closed.sink.sent.empty());
  EXPECT_EQ(dropCount(closed, "network_key_missing"), 1u);
}

TEST(RendezvousNetworkKey, SealedHelloGetsASealedCookieReply) {
  auto key = randomKey();
  RvHarness h(keyed(key));
  session::OuterSeal seal(key);
  auto sealed = sealWith(seal, helloPacket());
  ASSERT_FALSE(sealed.empty());
  h.engine->onDatagram(h.clock.now(), {}, kSource, sealed);
  ASSERT_EQ(h.sink.sent.size(), 1u);
  auto reply = h.sink.sent.front().bytes;
  EXPECT_EQ(reply[0], protocol::kTypeSealed);
  EXPECT_LE(reply.size(), sealed.size());  // still no amplification
  auto inner = seal.open(reply);
  ASSERT_EQ(inner.size(), protocol::kCookieReplySize);
  EXPECT_EQ(protocol::classify(inner), protocol::PacketFamily::kCookieReply);
}

TEST(RendezvousNetworkKey, PacketsSealedWithAnotherKeyGetNothing) {
  RvHarness h(keyed(randomKey()));
  session::OuterSeal other(randomKey());
  auto sealed = sealWith(other, helloPacket());
  h.engine->onDatagram(h.clock.now(), {}, kSource, sealed);
  EXPECT_TRUE(h.sink.sent.empty());
  EXPECT_EQ(dropCount(h, "network_key_mismatch"), 1u);
  // And a rendezvous without a key drops sealed packets (counted apart).
  RvHarness plain(keyed(std::nullopt));
  sealed = sealWith(other, helloPacket());
  plain.engine->onDatagram(plain.clock.now(), {}, kSource, sealed);
  EXPECT_TRUE(plain.sink.sent.empty());
  EXPECT_EQ(dropCount(plain, "network_key_unexpected"), 1u);
}

std::vector<std::uint8_t> stunRequest() {
  protocol::BindingRequestParams p;
  p.transaction_id[0] = 9;
  p.pad_to = protocol::kStunPaddedRequestSize;
  std::vector<std::uint8_t> out(protocol::kStunMaxBuiltSize);
  out.resize(protocol::buildBindingRequest(p, out, {.software = "", .fingerprint = false}));
  return out;
}

TEST(RendezvousNetworkKey, StunIsAnsweredOnlySealed) {
  auto key = randomKey();
  rendezvous::RendezvousOptions ro;
  ro.listen = {*Endpoint::parse("203.0.113.1:3478")};
  ro.network_key = key;
  RvHarness h(ro);
  // Control: the same request is answered by a rendezvous without a key.
  RvHarness open(keyed(std::nullopt));
  auto control = stunRequest();
  open.engine->onDatagram(open.clock.now(), {}, *Endpoint::parse("198.51.100.9:40000"), control);
  EXPECT_EQ(open.sink.sent.size(), 1u);
  const auto src = *Endpoint::parse("198.51.100.9:40000");
  auto plain = stunRequest();
  h.engine->onDatagram(h.clock.now(), {}, src, plain);
  EXPECT_TRUE(h.sink.sent.empty());

  session::OuterSeal seal(key);
  std::array<std::uint8_t, protocol::kMaxSealedPacket> buf{};
  std::size_t n = seal.seal(plain, buf);
  ASSERT_GT(n, 0u);
  h.engine->onDatagram(h.clock.now(), {}, src, std::span<std::uint8_t>(buf.data(), n));
  ASSERT_EQ(h.sink.sent.size(), 1u);
  auto reply = h.sink.sent.front().bytes;
  EXPECT_EQ(reply[0], protocol::kTypeSealed);
  auto inner = seal.open(reply);
  ASSERT_FALSE(inner.empty());
  auto msg = protocol::parseStun(inner);
  ASSERT_TRUE(msg.ok());
  ASSERT_TRUE(msg->xor_mapped.has_value());
  EXPECT_EQ(*msg->xor_mapped, src);

  // Another key: nothing back.
  h.sink.sent.clear();
  session::OuterSeal other(randomKey());
  n = other.seal(plain, buf);
  h.engine->onDatagram(h.clock.now(), {}, src, std::span<std::uint8_t>(buf.data(), n));
  EXPECT_TRUE(h.sink.sent.empty());
}

}  // namespace
}  // namespace vpn::test
