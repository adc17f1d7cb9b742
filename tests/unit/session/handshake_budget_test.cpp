// Handshake's anti-amplification rules with real TLS: padded first packets, the 1x budget of a
// responder before the address is validated, 3x after, and nothing held back for good.
#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "session/handshake.hpp"
#include "tests/fakes/fake_clock.hpp"
#include "tests/fakes/test_pki.hpp"

namespace vpn::session {
namespace {

struct Capture final : DatagramSink {
  void sendDatagram(const protocol::Endpoint&, std::span<const std::uint8_t> b) override {
    out.emplace_back(b.begin(), b.end());
  }
  std::deque<std::vector<std::uint8_t>> out;
};

class BudgetTest : public ::testing::Test {
 protected:
  test::TestPki pki;
  std::unique_ptr<crypto::TlsContext> a_tls = pki.makeContext("alice", {"10.42.0.1/24"});
  std::unique_ptr<crypto::TlsContext> b_tls = pki.makeContext("bob", {"10.42.0.2/24"});
  test::FakeClock clock;

  Handshake::Params clientParams() {
    Handshake::Params p;
    p.role = crypto::TlsSession::Role::kClient;
    p.own_name = "alice";
    p.peer_name = "bob";
    p.local_index = 11;
    p.endpoint = *protocol::Endpoint::parse("192.0.2.2:51820");
    return p;
  }
  Handshake::Params serverParams(std::uint32_t client_index, bool validated) {
    Handshake::Params p;
    p.role = crypto::TlsSession::Role::kServer;
    p.own_name = "bob";
    p.peer_name = "alice";
    p.local_index = 22;
    p.remote_index = client_index;
    p.endpoint = *protocol::Endpoint::parse("192.0.2.1:51820");
    p.responder = true;
    p.validated = validated;
    return p;
  }
  static protocol::HandshakePacket parse(const std::vector<std::uint8_t>& d) {
    auto p = protocol::parseHandshake(d);
    EXPECT_TRUE(p.ok());
    return *p;
  }
  // Moves packets between client c and server s until both are established (at most `steps`
  // rounds, `dt` apart); `after_server` runs after each server flush.
  template <typename Fn>
  void run(Handshake& c, Handshake& s, int steps, Duration dt, Fn&& after_server) {
    Capture to_s, to_c;
    c.begin(clock.now());
    s.begin(clock.now());
    c.flush(clock.now(), to_s);
    for (int step = 0; step < steps && !(c.state() == Handshake::State::kEstablished &&
                                          s.state() == Handshake::State::kEstablished);
         ++step) {
      while (!to_s.out.empty()) {
        s.onPacket(clock.now(), parse(to_s.out.front()));
        to_s.out.pop_front();
      }
      s.flush(clock.now(), to_c);
      after_server();
      while (!to_c.out.empty()) {
        c.onPacket(clock.now(), parse(to_c.out.front()));
        to_c.out.pop_front();
      }
      c.flush(clock.now(), to_s);
      clock.advance(dt);
    }
  }
  static std::size_t total(const std::deque<std::vector<std::uint8_t>>& q) {
    std::size_t n = 0;
    for (const auto& d : q) {
      n += d.size();
    }
    return n;
  }
};

TEST_F(BudgetTest, ClientHelloIsPaddedAndEchoesACookieOnceGivenOne) {
  Handshake c(*a_tls, clientParams(), clock.now());
  Capture cap;
  c.begin(clock.now());
  c.flush(clock.now(), cap);
  ASSERT_EQ(cap.out.size(), 1u);
  EXPECT_EQ(cap.out[0].size(), protocol::kMinInitialPacket);
  auto p = parse(cap.out[0]);
  EXPECT_TRUE(p.hasHello());
  EXPECT_FALSE(p.hasCookie());
  protocol::Cookie cookie{};
  cookie[0] = 0xAB;
  ASSERT_TRUE(c.setCookie(clock.now(), cookie));
  cap.out.clear();
  c.flush(clock.now(), cap);  // resent at once, now with the cookie, still padded
  ASSERT_EQ(cap.out.size(), 1u);
  EXPECT_EQ(cap.out[0].size(), protocol::kMinInitialPacket);
  auto q = parse(cap.out[0]);
  ASSERT_TRUE(q.hasCookie());
  EXPECT_EQ(q.cookie[0], 0xAB);
  EXPECT_EQ(q.packet_id, p.packet_id);
}

// A spoofed ClientHello (nobody ever answers): over the whole handshake timeout, the responder
// sends back no more bytes than it received.
TEST_F(BudgetTest, UnvalidatedResponderNeverSendsMoreThanItReceived) {
  Handshake c(*a_tls, clientParams(), clock.now());
  Capture from_client;
  c.begin(clock.now());
  c.flush(clock.now(), from_client);
  Handshake s(*b_tls, serverParams(11, false), clock.now());
  Capture from_server;
  s.begin(clock.now());
  s.onPacket(clock.now(), parse(from_client.out.front()));
  for (int i = 0; i < 100; ++i) {
    s.flush(clock.now(), from_server);
    clock.advance(milliseconds(100));
  }
  EXPECT_LE(total(from_server.out), protocol::kMinInitialPacket);
  EXPECT_EQ(s.bytesIn(), protocol::kMinInitialPacket);
  EXPECT_LE(s.bytesOut(), s.bytesIn());
  EXPECT_GT(s.heldBack(), 0u);
}

// A validated responder (cookie echoed) may send 3x, which covers the whole server flight of a
// padded ClientHello; the handshake completes and the budget never was exceeded on the way.
TEST_F(BudgetTest, ValidatedResponderSendsItsFlightAndCompletes) {
  Handshake c(*a_tls, clientParams(), clock.now());
  Handshake s(*b_tls, serverParams(11, true), clock.now());
  run(c, s, 200, milliseconds(10), [&] {
    if (s.state() != Handshake::State::kEstablished) {
      EXPECT_LE(s.bytesOut(), 3 * s.bytesIn());
    }
  });
  EXPECT_EQ(c.state(), Handshake::State::kEstablished);
  EXPECT_EQ(s.state(), Handshake::State::kEstablished);
}

// Unvalidated at first: the 1x budget holds part of the flight back; the client's ack names the
// server's index, which validates the address, and the rest goes out at once.
TEST_F(BudgetTest, AnAckNamingOurIndexValidatesAndReleasesWhatWasHeld) {
  Handshake c(*a_tls, clientParams(), clock.now());
  Handshake s(*b_tls, serverParams(11, false), clock.now());
  run(c, s, 300, milliseconds(50), [&] {
    if (!s.validated()) {
      EXPECT_LE(s.bytesOut(), s.bytesIn());
    }
  });
  EXPECT_TRUE(s.validated());
  EXPECT_EQ(c.state(), Handshake::State::kEstablished);
  EXPECT_EQ(s.state(), Handshake::State::kEstablished);
}

}  // namespace
}  // namespace vpn::session
