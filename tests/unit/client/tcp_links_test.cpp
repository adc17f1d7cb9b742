// TcpLinks on loopback with a real loop: datagrams both ways keyed by remote endpoint, refused
// connects and idle connections reported through on_closed, nothing left open.
#include "client/tcp_links.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../net/loop_fixture.hpp"

namespace vpn::client {
namespace {

using protocol::Endpoint;

struct Side {
  std::vector<std::pair<Endpoint, std::string>> got;
  std::vector<std::pair<Endpoint, std::string>> closed;
  std::unique_ptr<TcpLinks> links;

  void make(uv_loop_t& loop, TcpLinks::Limits limits = {}, TcpLinks::IsUsed is_used = nullptr) {
    links = std::make_unique<TcpLinks>(
        loop,
        [this](const Endpoint& from, std::span<std::uint8_t> d) {
          got.emplace_back(from, std::string(d.begin(), d.end()));
        },
        [this](const Endpoint& remote, const std::string& reason) {
          closed.emplace_back(remote, reason);
        },
        std::move(is_used), limits);
  }
};

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class TcpLinksTest : public net::test::LoopTest {};

TEST_F(TcpLinksTest, DatagramsBothWaysByRemoteEndpoint) {
  Side server, client;
  server.make(loop_);
  client.make(loop_);
  server.links->listen(*Endpoint::parse("127.0.0.1:0"));
  Endpoint at = *server.links->listenEndpoint();
  ASSERT_NE(at.port(), 0);
  client.links->send(at, bytes("hello"));
  client.links->send(at, bytes("again"));
  ASSERT_TRUE(runUntil([&] { return server.got.size() == 2; }));
  EXPECT_EQ(server.got[0].second, "hello");
  EXPECT_EQ(server.got[1].second, "again");
  Endpoint client_ep = server.got[0].first;
  EXPECT_EQ(server.links->connections(), 1u);
  // The answer goes back on the accepted connection, found by the client's endpoint.
  server.links->send(client_ep, bytes("world"));
  ASSERT_TRUE(runUntil([&] { return client.got.size() == 1; }));
  EXPECT_EQ(client.got[0].first, at);
  EXPECT_EQ(client.got[0].second, "world");
  EXPECT_EQ(server.links->connections(), 1u);
  EXPECT_TRUE(server.closed.empty());
  EXPECT_TRUE(client.closed.empty());
  client.links->closeAll();
  ASSERT_TRUE(runUntil([&] { return !server.closed.empty(); }));
  EXPECT_EQ(server.closed[0].first, client_ep);
  server.links->closeAll();
  EXPECT_EQ(server.links->connections(), 0u);
}

TEST_F(TcpLinksTest, ABatchGoesOutInOneWriteAndEndsOnceOnArrival) {
  Side server, client;
  server.make(loop_);
  client.make(loop_);
  int batch_ends = 0;
  std::size_t got_at_last_end = 0;
  server.links->setOnBatchEnd([&] {
    ++batch_ends;
    EXPECT_GT(server.got.size(), got_at_last_end) << "a batch end without datagrams";
    got_at_last_end = server.got.size();
  });
  server.links->listen(*Endpoint::parse("127.0.0.1:0"));
  Endpoint at = *server.links->listenEndpoint();
  client.links->send(at, bytes("first"));  // connects; queued behind the connect
  ASSERT_TRUE(runUntil([&] { return server.got.size() == 1; }));
  // 200 datagrams sent in one loop turn, no flush called: they leave together at the turn's end
  // (a few KiB in one write), so they arrive in a few reads, not 200.
  for (int i = 0; i < 200; ++i) {
    client.links->send(at, bytes("datagram " + std::to_string(i)));
  }
  int ends_before = batch_ends;
  ASSERT_TRUE(runUntil([&] { return server.got.size() == 201; }));
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(server.got[static_cast<std::size_t>(i) + 1].second, "datagram " + std::to_string(i));
  }
  EXPECT_GE(batch_ends - ends_before, 1);
  EXPECT_LE(batch_ends - ends_before, 10);
  EXPECT_EQ(got_at_last_end, 201u);
  // An explicit flush sends at once, without waiting for the loop turn to end.
  client.links->send(at, bytes("now"));
  client.links->flush();
  ASSERT_TRUE(runUntil([&] { return server.got.size() == 202; }));
  client.links->closeAll();
  server.links->closeAll();
}

TEST_F(TcpLinksTest, RefusedConnectIsReported) {
  // A port nothing listens on: bind a listener, note its port, close it.
  Endpoint dead;
  {
    Side probe;
    probe.make(loop_);
    probe.links->listen(*Endpoint::parse("127.0.0.1:0"));
    dead = *probe.links->listenEndpoint();
    probe.links->closeAll();
  }
  Side client;
  client.make(loop_);
  client.links->send(dead, bytes("anyone?"));
  ASSERT_TRUE(runUntil([&] { return !client.closed.empty(); }));
  EXPECT_EQ(client.closed[0].first, dead);
  EXPECT_EQ(client.closed[0].second, "connection refused");
  EXPECT_EQ(client.links->connections(), 0u);
}

TEST_F(TcpLinksTest, IdleConnectionsAreClosed) {
  Side server, client;
  TcpLinks::Limits idle;
  idle.idle_timeout = std::chrono::milliseconds(300);
  server.make(loop_, idle);
  client.make(loop_);
  server.links->listen(*Endpoint::parse("127.0.0.1:0"));
  client.links->send(*server.links->listenEndpoint(), bytes("once"));
  ASSERT_TRUE(runUntil([&] { return server.got.size() == 1; }));
  auto t0 = Clock::now();
  ASSERT_TRUE(runUntil([&] { return !server.closed.empty(); }, std::chrono::milliseconds(3000)));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(200));
  EXPECT_NE(server.closed[0].second.find("idle"), std::string::npos) << server.closed[0].second;
  EXPECT_EQ(server.links->connections(), 0u);
  // The client sees the connection end too.
  ASSERT_TRUE(runUntil([&] { return !client.closed.empty(); }));
  server.links->closeAll();
  client.links->closeAll();
}

// Finding 7 at the peer: accepted connections had no cap. Now one source gets max_per_source,
// everyone together max_links, and a connection nothing uses is closed however busy it is.
TEST_F(TcpLinksTest, AcceptedConnectionsAreCappedPerSourceAndInTotal) {
  for (bool per_source : {true, false}) {
    Side server;
    TcpLinks::Limits l;
    l.max_per_source = per_source ? 2 : 10;
    l.max_links = per_source ? 10 : 2;
    server.make(loop_, l);
    server.links->listen(*Endpoint::parse("127.0.0.1:0"));
    Endpoint at = *server.links->listenEndpoint();
    std::vector<Side> clients(4);
    for (auto& c : clients) {
      c.make(loop_);
      c.links->send(at, bytes("hi"));
    }
    // Two (all from 127.0.0.1) are kept; the other two are closed at accept.
    ASSERT_TRUE(runUntil([&] {
      int closed = 0;
      for (auto& c : clients) {
        closed += c.closed.empty() ? 0 : 1;
      }
      return closed == 2;
    }));
    EXPECT_EQ(server.links->connections(), 2u);
    EXPECT_EQ(server.links->counters().accepted, 2u);
    EXPECT_EQ(per_source ? server.links->counters().refused_per_source
                         : server.links->counters().refused,
              2u);
    for (auto& c : clients) {
      c.links->closeAll();
    }
    ASSERT_TRUE(runUntil([&] { return server.links->connections() == 0u; }));
    server.links->closeAll();
  }
}

TEST_F(TcpLinksTest, UnusedAcceptedConnectionsAreClosedWhateverTheySend) {
  Side server, client;
  TcpLinks::Limits l;
  l.unused_timeout = std::chrono::milliseconds(300);
  bool used = false;
  server.make(loop_, l, [&](const Endpoint&) { return used; });
  client.make(loop_);
  server.links->listen(*Endpoint::parse("127.0.0.1:0"));
  Endpoint at = *server.links->listenEndpoint();
  for (int i = 0; i < 20 && server.closed.empty(); ++i) {
    client.links->send(at, bytes("junk"));
    runUntil([&] { return false; }, std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(runUntil([&] { return !server.closed.empty(); }));
  EXPECT_NE(server.closed[0].second.find("unused"), std::string::npos);
  EXPECT_EQ(server.links->counters().unused_closed, 1u);
  // One the engine uses stays.
  used = true;
  client.links->closeAll();
  client.closed.clear();
  client.links->send(at, bytes("real"));
  runUntil([&] { return false; }, std::chrono::milliseconds(700));
  EXPECT_EQ(server.links->connections(), 1u);
  EXPECT_EQ(server.links->counters().unused_closed, 1u);
  client.links->closeAll();
  server.links->closeAll();
}

}  // namespace
}  // namespace vpn::client
