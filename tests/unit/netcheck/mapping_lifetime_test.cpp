// The mapping lifetime measurement (RFC 5780 section 4.6) against a scripted NAT and STUN server:
// the NAT forgets a mapping after `timeout` without outgoing traffic; the server answers Binding
// requests, to RESPONSE-PORT when asked (or ignores or refuses it, for the failure cases).
#include "client/netcheck/mapping_lifetime.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace vpn::netcheck {
namespace {

using namespace std::chrono_literals;
using protocol::Endpoint;

enum class ServerKind { kHonours, kIgnores, kRefuses };

struct World {
  explicit World(std::chrono::seconds nat_timeout, ServerKind server_kind = ServerKind::kHonours)
      : timeout(nat_timeout), kind(server_kind) {}

  // Runs the measurement to its end (at most `limit`), delivering everything.
  MappingLifetimeResult run(MappingLifetimeConfig cfg, std::chrono::seconds limit = 600s) {
    cfg.server = server;
    std::uint32_t next_id = 1;
    MappingLifetime m(cfg, [&] {
      protocol::StunTransactionId id{};
      std::uint32_t v = next_id++;
      std::memcpy(id.data(), &v, sizeof v);
      return id;
    });
    now = TimePoint{} + 1000s;
    start = now;
    m.start(now);
    const TimePoint end = now + limit;
    while (!m.done() && now < end) {
      for (auto& s : m.takeOutgoing()) {
        deliver(m, s);
      }
      auto next = m.nextDeadline();
      if (!next) {
        break;
      }
      now = std::max(now, *next);
      m.onTimer(now);
    }
    finished = now;
    return m.result();
  }

  void deliver(MappingLifetime& m, const LifetimeSend& s) {
    auto req = protocol::parseStun(s.bytes);
    ASSERT_TRUE(req);
    // The NAT: socket k's public port (sender: 40000), refreshed by outgoing traffic.
    std::uint16_t port = static_cast<std::uint16_t>(40000 + s.socket);
    active[port] = now;
    std::array<std::uint8_t, 512> out{};
    Endpoint seen(pub, port);
    if (req->response_port && kind == ServerKind::kRefuses) {
      const std::uint16_t attr[] = {protocol::kStunAttrResponsePort};
      std::size_t n = protocol::buildBindingError(*req, 420, {}, attr, out);
      m.onDatagram(now, s.socket, server, std::span(out).first(n));
      return;
    }
    std::size_t n = protocol::buildBindingResponse(*req, seen, server, std::nullopt, out);
    std::uint16_t to = port;
    if (req->response_port && kind == ServerKind::kHonours) {
      to = *req->response_port;
    }
    // Back through the NAT: only to a mapping still alive.
    auto it = active.find(to);
    if (it == active.end() || now - it->second >= timeout) {
      active.erase(to);
      return;
    }
    m.onDatagram(now, static_cast<std::size_t>(to - 40000), server, std::span(out).first(n));
  }

  std::chrono::seconds timeout;
  ServerKind kind;
  Endpoint server = *Endpoint::parse("198.51.100.1:3478");
  protocol::IpAddress pub = *protocol::IpAddress::parse("203.0.113.9");
  std::map<std::uint16_t, TimePoint> active;
  TimePoint now{}, start{}, finished{};
};

TEST(MappingLifetime, FindsTheTimeoutBetweenTwoIdleTimes) {
  World w(50s);
  auto r = w.run({});
  ASSERT_EQ(r.state, MappingLifetimeResult::State::kDone) << r.note;
  EXPECT_EQ(r.kept, 45s);
  EXPECT_EQ(r.lost, 60s);
  // Longer idle times are not waited for once 60 s is lost.
  EXPECT_LT(w.finished - w.start, 70s);
}

TEST(MappingLifetime, AMappingThatOutlivesEveryIdleTime) {
  World w(3600s);
  auto r = w.run({});
  ASSERT_EQ(r.state, MappingLifetimeResult::State::kDone) << r.note;
  EXPECT_EQ(r.kept, 180s);
  EXPECT_FALSE(r.lost);
}

TEST(MappingLifetime, AShortTimeout) {
  World w(12s);
  auto r = w.run({});
  ASSERT_EQ(r.state, MappingLifetimeResult::State::kDone) << r.note;
  EXPECT_EQ(r.kept, 10s);
  EXPECT_EQ(r.lost, 20s);
}

TEST(MappingLifetime, AServerWithoutResponsePortFailsWithAReason) {
  World ignores(60s, ServerKind::kIgnores);
  auto r = ignores.run({});
  EXPECT_EQ(r.state, MappingLifetimeResult::State::kFailed);
  EXPECT_NE(r.note.find("ignores RESPONSE-PORT"), std::string::npos) << r.note;
  World refuses(60s, ServerKind::kRefuses);
  r = refuses.run({});
  EXPECT_EQ(r.state, MappingLifetimeResult::State::kFailed);
  EXPECT_NE(r.note.find("refuses RESPONSE-PORT (error 420)"), std::string::npos) << r.note;
  EXPECT_LT(refuses.finished - refuses.start, 10s);  // the control tells at once
}

TEST(MappingLifetime, TestSocketsOnAnotherPublicAddressCannotBeMeasured) {
  World w(60s);
  MappingLifetimeConfig cfg;
  cfg.sender_public = *protocol::IpAddress::parse("203.0.113.77");
  auto r = w.run(cfg);
  EXPECT_EQ(r.state, MappingLifetimeResult::State::kFailed);
  EXPECT_NE(r.note.find("cannot be measured"), std::string::npos) << r.note;
}

TEST(MappingLifetime, NoServerMeansFailureNotALifetime) {
  World w(60s);
  MappingLifetimeConfig cfg;
  cfg.idle = {0s, 10s};
  cfg.server = *Endpoint::parse("198.51.100.1:3478");
  // Nothing is delivered.
  std::uint32_t next_id = 1;
  MappingLifetime m(cfg, [&] {
    protocol::StunTransactionId id{};
    id[0] = static_cast<std::uint8_t>(next_id++);
    return id;
  });
  TimePoint now{};
  m.start(now);
  for (int i = 0; i < 100 && !m.done(); ++i) {
    (void)m.takeOutgoing();
    now = *m.nextDeadline();
    m.onTimer(now);
  }
  EXPECT_EQ(m.result().state, MappingLifetimeResult::State::kFailed);
  EXPECT_LT(now - TimePoint{}, 30s);
}

}  // namespace
}  // namespace vpn::netcheck
