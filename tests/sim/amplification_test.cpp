// The amplification table: for each kind of packet an unvalidated source can send a peer or a
// rendezvous, the bytes it draws back to that source divided by the bytes it sent. Each row is
// asserted against its bound, and the table is printed (it goes into the closing note and
// docs/security.md). Before address validation the bound is 1x; after a cookie, 3x until the
// handshake completes; STUN requests without PADDING are the one documented exception, held by
// per-address and global allowances instead (see RendezvousStun tests for the aggregate).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "crypto/random.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/packet_type.hpp"
#include "protocol/punch_packet.hpp"
#include "protocol/relay_packet.hpp"
#include "protocol/sealed_packet.hpp"
#include "protocol/stun.hpp"
#include "session/outer_seal.hpp"
#include "tests/sim/two_peers.hpp"
#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

struct Row {
  std::string what;
  std::size_t in = 0;
  std::size_t out = 0;
  double bound = 1.0;
  double factor() const { return in == 0 ? 0 : static_cast<double>(out) / static_cast<double>(in); }
};

std::vector<std::uint8_t> hello(std::uint32_t sender, const char* name, bool padded,
                                const protocol::Cookie* cookie = nullptr, std::uint8_t extra = 0) {
  std::vector<std::uint8_t> tls(230, 0x16);
  protocol::HandshakePacket p;
  p.flags = static_cast<std::uint8_t>(protocol::kFlagHello | extra);
  if ((extra & protocol::kFlagKick) == 0) {
    p.flags |= protocol::kFlagPayload;
    p.packet_id = 1;
    p.payload = tls;
  }
  if (padded) {
    p.flags |= protocol::kFlagPadded;
    p.wire_size = protocol::kMinInitialPacket;
  }
  if (cookie != nullptr) {
    p.flags |= protocol::kFlagCookie;
    p.cookie = *cookie;
  }
  p.sender_index = sender;
  p.name = name;
  std::vector<std::uint8_t> out(protocol::kMaxHandshakePacket);
  out.resize(protocol::serializeHandshake(p, {}, out));
  return out;
}

std::vector<std::uint8_t> stunRequest(bool padded, bool change) {
  protocol::BindingRequestParams p;
  p.transaction_id[0] = 7;
  p.change_port = change;
  p.pad_to = padded ? protocol::kStunPaddedRequestSize : 0;
  std::vector<std::uint8_t> out(protocol::kStunMaxBuiltSize);
  out.resize(protocol::buildBindingRequest(p, out, {.software = "", .fingerprint = false}));
  return out;
}

void print(const std::vector<Row>& rows) {
  std::printf("\n%-62s %7s %7s %7s %6s\n", "packet from an unvalidated source", "in", "out",
              "factor", "bound");
  for (const auto& r : rows) {
    std::printf("%-62s %7zu %7zu %7.3f %6.1f\n", r.what.c_str(), r.in, r.out, r.factor(),
                r.bound);
  }
}

class RendezvousRows {
 public:
  explicit RendezvousRows(std::optional<crypto::NetworkKey> key = std::nullopt,
                          double cookieless_per_second = 0) {
    opts_.listen = {*protocol::Endpoint::parse("203.0.113.1:3478")};
    opts_.network_key = std::move(key);
    opts_.cookieless_per_second = cookieless_per_second;
    h_ = std::make_unique<RvHarness>(opts_);
  }
  // Sends `bytes` from a fresh source; returns what went back to it.
  Row send(std::string what, std::vector<std::uint8_t> bytes, double bound = 1.0,
           const protocol::Endpoint* from = nullptr) {
    protocol::Endpoint src = from != nullptr ? *from : next();
    h_->sink.sent.clear();
    Row r{std::move(what), bytes.size(), 0, bound};
    h_->engine->onDatagram(h_->clock.now(), {}, src, bytes);
    for (const auto& d : h_->sink.sent) {
      if (d.to.address() == src.address()) {
        r.out += d.bytes.size();
      }
    }
    return r;
  }
  protocol::Endpoint next() {
    return protocol::Endpoint(protocol::IpAddress::v4(0xC6336400u + ++n_), 40000);
  }
  RvHarness& h() { return *h_; }

 private:
  rendezvous::RendezvousOptions opts_;
  std::unique_ptr<RvHarness> h_;
  std::uint32_t n_ = 0;
};

TEST(Amplification, EveryMessageTypeStaysWithinItsBound) {
  std::vector<Row> rows;
  RendezvousRows rv;
  rows.push_back(rv.send("rv: HELLO (padded ClientHello), no cookie -> cookie reply",
                         hello(11, "mallory", true)));
  rows.push_back(rv.send("rv: HELLO unpadded -> nothing", hello(12, "mallory", false)));
  protocol::Cookie forged{};
  rows.push_back(rv.send("rv: HELLO with a forged cookie -> fresh cookie",
                         hello(13, "mallory", true, &forged)));
  {
    // A real cookie for this source, then the retry: the server's first flight (TLS fails on the
    // junk ClientHello, so what goes back is at most an alert; a real one is in the session test).
    auto src = rv.next();
    auto first = rv.send("", hello(14, "mallory", true), 1.0, &src);
    auto reply = protocol::parseCookieReply(rv.h().sink.sent.back().bytes);
    ASSERT_TRUE(reply.ok());
    rows.push_back(rv.send("rv: HELLO echoing its cookie -> TLS (<= 3x until established)",
                           hello(14, "mallory", true, &reply->cookie), 3.0, &src));
  }
  {
    // A real registration handshake (cookie round trip included): all the server sent to the
    // client against all it received, until both sides are established.
    Row r{"rv: a real ClientHello, cookie and TLS to established", 0, 0, 3.0};
    auto& carol = rv.h().addPeer("carol", {"10.42.0.3/24"}, rv.next());
    rv.h().sink.sent.clear();
    rv.h().to_engine.clear();
    RvHarness::NodeSink s(rv.h(), carol);
    carol.peer->start(rv.h().clock.now(), s);
    for (int i = 0; i < 50 && !carol.peer->established(); ++i) {
      while (!rv.h().to_engine.empty()) {
        auto [from, bytes] = std::move(rv.h().to_engine.front());
        rv.h().to_engine.pop_front();
        r.in += bytes.size();
        rv.h().engine->onDatagram(rv.h().clock.now(), {}, from, bytes);
      }
      while (!rv.h().sink.sent.empty()) {
        auto d = std::move(rv.h().sink.sent.front());
        rv.h().sink.sent.pop_front();
        r.out += d.bytes.size();
        carol.peer->onDatagram(rv.h().clock.now(), d.bytes, s);
      }
    }
    EXPECT_TRUE(carol.peer->established());
    rows.push_back(r);
  }
  {
    // Not under load (the default), an unproven source skips the cookie: a real ClientHello
    // whose source never answers (spoofed) draws the server's flight and its retransmissions
    // until the handshake times out, within the 1x budget.
    RendezvousRows cookieless(std::nullopt, rendezvous::RendezvousOptions{}.cookieless_per_second);
    Row r{"rv: real ClientHello, no cookie, never answered (12 s) -> flight", 0, 0, 1.0};
    auto& victim = cookieless.h().addPeer("mallory", {"10.42.0.66/24"}, cookieless.next());
    RvHarness::NodeSink s(cookieless.h(), victim);
    victim.peer->start(cookieless.h().clock.now(), s);
    for (auto& [from, bytes] : cookieless.h().to_engine) {
      r.in += bytes.size();
      cookieless.h().engine->onDatagram(cookieless.h().clock.now(), {}, from, bytes);
    }
    cookieless.h().to_engine.clear();
    for (int i = 0; i < 120; ++i) {
      for (const auto& d : cookieless.h().sink.sent) {
        r.out += d.to.address() == victim.observed.address() ? d.bytes.size() : 0;
      }
      cookieless.h().sink.sent.clear();
      cookieless.h().clock.advance(milliseconds(100));
      if (cookieless.h().engine->nextDeadline() <= cookieless.h().clock.now()) {
        cookieless.h().engine->onTimer(cookieless.h().clock.now());
      }
    }
    EXPECT_GT(r.out, 0u);
    rows.push_back(r);
  }
  rows.push_back(rv.send("rv: KICK -> nothing", hello(15, "mallory", true, nullptr,
                                                      protocol::kFlagKick)));
  rows.push_back(rv.send("rv: STUN Binding padded to 160 -> answer", stunRequest(true, false)));
  rows.push_back(rv.send("rv: STUN Binding padded, CHANGE-REQUEST -> answer or 420",
                         stunRequest(true, true)));
  // Classic STUN: answered within a small allowance, the one row above 1x (bounded in total).
  rows.push_back(rv.send("rv: STUN Binding 20 bytes (classic) -> answer (allowance)",
                         stunRequest(false, false), 8.0));
  {
    auto bad = stunRequest(false, false);
    bad[3] = 4;  // claims an attribute that is not there: 400 (within the allowance)
    rows.push_back(rv.send("rv: STUN with a lying length -> nothing", bad, 8.0));
  }
  {
    std::vector<std::uint8_t> relay = {protocol::kTypeRelay, 0x12, 0x34, protocol::kTypeData};
    relay.resize(100, 0);
    rows.push_back(rv.send("rv: relay packet from no session -> nothing", relay));
  }
  {
    std::vector<std::uint8_t> sealed(60, 0);
    sealed[0] = protocol::kTypeControl;
    rows.push_back(rv.send("rv: sealed control, unknown index -> nothing", sealed));
  }
  rows.push_back(rv.send("rv: garbage -> nothing", std::vector<std::uint8_t>(300, 0xEE)));

  // The peer: bob, with a session to alice, and mallory elsewhere.
  TwoPeers t;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  auto mallory = ep("203.0.113.66:4444");
  auto peerRow = [&](std::string what, std::vector<std::uint8_t> bytes, double bound = 1.0,
                     Duration wait = milliseconds(50)) {
    Row r{std::move(what), bytes.size(), 0, bound};
    t.net.on_send = [&](const Datagram& d) {
      if (d.to == mallory) {
        r.out += d.bytes.size();
      }
    };
    t.net.inject(mallory, t.ep_b, bytes);
    t.net.runFor(wait);
    t.net.on_send = nullptr;
    return r;
  };
  rows.push_back(peerRow("peer: HELLO (ClientHello) from an unproven source -> cookie",
                         hello(21, "alice", true)));
  rows.push_back(peerRow("peer: HELLO unpadded -> nothing", hello(22, "alice", false)));
  rows.push_back(peerRow("peer: HELLO naming nobody we know -> nothing",
                         hello(23, "nobody", true)));
  // A kick makes the TLS client (alice) answer with a ClientHello; over 10 s of retransmission
  // it sends no more than the kick brought.
  {
    Row r{"peer: KICK -> ClientHello, all retransmissions (10 s)", 0, 0, 1.0};
    auto kick = hello(24, "bob", true, nullptr, protocol::kFlagKick);
    r.in = kick.size();
    t.net.on_send = [&](const Datagram& d) {
      if (d.to == mallory) {
        r.out += d.bytes.size();
      }
    };
    t.net.inject(mallory, t.ep_a, kick);
    t.net.runFor(seconds(11));
    t.net.on_send = nullptr;
    rows.push_back(r);
  }
  {
    std::array<std::uint8_t, protocol::kProbeSize> probe{};
    probe[0] = protocol::kTypeProbe;
    rows.push_back(peerRow("peer: punch probe, unknown introduction -> nothing",
                           std::vector<std::uint8_t>(probe.begin(), probe.end())));
  }
  {
    std::vector<std::uint8_t> data(100, 0);
    data[0] = protocol::kTypeData;
    rows.push_back(peerRow("peer: data packet, unknown index -> nothing", data));
  }
  rows.push_back(peerRow("peer: STUN -> nothing", stunRequest(false, false)));
  rows.push_back(peerRow("peer: garbage -> nothing", std::vector<std::uint8_t>(300, 0xEE)));

  print(rows);
  for (const auto& r : rows) {
    EXPECT_LE(r.factor(), r.bound) << r.what;
  }
  EXPECT_TRUE(t.bothEstablished());
}

// With a network key, a host without it draws nothing back from any packet the table above
// answers: the rows are all 0x.
TEST(Amplification, WithANetworkKeyOutsidersDrawNothing) {
  std::array<std::uint8_t, 32> raw{};
  crypto::randomBytes(raw);
  std::vector<Row> rows;
  RendezvousRows rv(crypto::NetworkKey(crypto::NetworkKey::Source::kFile, raw));
  rows.push_back(rv.send("keyed rv: plain HELLO -> nothing", hello(31, "mallory", true)));
  rows.push_back(rv.send("keyed rv: STUN padded -> nothing", stunRequest(true, false)));
  rows.push_back(rv.send("keyed rv: STUN classic -> nothing", stunRequest(false, false)));
  crypto::randomBytes(raw);
  session::OuterSeal other(crypto::NetworkKey(crypto::NetworkKey::Source::kFile, raw));
  std::vector<std::uint8_t> sealed(protocol::kMaxSealedPacket);
  sealed.resize(other.seal(hello(32, "mallory", true), sealed));
  rows.push_back(rv.send("keyed rv: HELLO sealed with another key -> nothing", sealed));
  print(rows);
  for (const auto& r : rows) {
    EXPECT_EQ(r.out, 0u) << r.what;
    EXPECT_GT(r.in, 0u) << r.what;
  }
}

}  // namespace
}  // namespace vpn::test
