#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "loop_fixture.hpp"
#include "net/net_error.hpp"
#include "net/tcp_connection.hpp"
#include "net/tcp_listener.hpp"

namespace vpn::net::test {
namespace {

using protocol::Endpoint;
using Bytes = std::vector<std::uint8_t>;
using std::chrono::milliseconds;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

std::uint8_t patternByte(std::size_t i, unsigned seed) {
  return static_cast<std::uint8_t>((i * 131 + seed * 17 + (i >> 9)) & 0xff);
}

Bytes pattern(std::size_t n, unsigned seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) {
    b[i] = patternByte(i, seed);
  }
  return b;
}

// A raw IPv4 socket on 127.0.0.1 with a kernel-chosen port; closed on destruction.
struct RawSocket {
  int fd = -1;
  std::uint16_t port = 0;
  explicit RawSocket(int type = SOCK_STREAM) {
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~RawSocket() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  Endpoint endpoint() const { return Endpoint(*protocol::IpAddress::parse("127.0.0.1"), port); }
};

int rawConnect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

class TcpTest : public LoopTest {
 protected:
  // A listener that keeps what it accepts in `server_` (not reading until started).
  void listen() {
    listener_ = TcpListener::listen(
        loop_, ep("127.0.0.1:0"),
        [this](std::unique_ptr<TcpConnection> c) { server_.push_back(std::move(c)); });
  }
  void TearDown() override {
    server_.clear();
    listener_.reset();
    LoopTest::TearDown();
  }

  std::unique_ptr<TcpListener> listener_;
  std::vector<std::unique_ptr<TcpConnection>> server_;
};

TEST_F(TcpTest, ConnectAcceptAndEchoOneMegabyteInOrder) {
  listen();
  ASSERT_NE(listener_->localEndpoint().port(), 0);
  bool connected = false;
  Bytes echoed;
  TcpConnection::Callbacks cb;
  cb.on_connected = [&] { connected = true; };
  cb.on_data = [&](std::span<std::uint8_t> b) { echoed.insert(echoed.end(), b.begin(), b.end()); };
  auto client = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), cb);
  EXPECT_FALSE(client->connected());
  Bytes first = pattern(1000, 1);
  ASSERT_TRUE(client->write(first)) << "writes while connecting are queued";
  ASSERT_TRUE(runUntil([&] { return connected && server_.size() == 1; }));
  EXPECT_TRUE(client->connected());
  EXPECT_EQ(client->remote(), listener_->localEndpoint());
  TcpConnection& srv = *server_[0];
  EXPECT_EQ(srv.remote().address(), *protocol::IpAddress::parse("127.0.0.1"));
  TcpConnection::Callbacks scb;
  scb.on_data = [&](std::span<std::uint8_t> b) { EXPECT_TRUE(srv.write(b)); };
  srv.start(scb);

  Bytes all = first;
  for (unsigned i = 0; i < 64; ++i) {
    Bytes head = pattern(7, i);
    Bytes body = pattern(16000 + i, i + 2);
    ASSERT_TRUE(client->write(head, body));
    all.insert(all.end(), head.begin(), head.end());
    all.insert(all.end(), body.begin(), body.end());
  }
  ASSERT_TRUE(runUntil([&] { return echoed.size() >= all.size(); }));
  EXPECT_TRUE(echoed == all);
  EXPECT_EQ(client->stats().tx_bytes, all.size());
  EXPECT_EQ(client->stats().rx_bytes, all.size());
  EXPECT_EQ(client->queuedBytes(), 0u);
  EXPECT_EQ(listener_->accepted(), 1u);
}

TEST_F(TcpTest, ClosedPortReportsConnectionRefused) {
  RawSocket bound;  // bound, never listening: the kernel answers SYN with RST
  std::string reason;
  int connected = 0;
  TcpConnection::Callbacks cb;
  cb.on_connected = [&] { ++connected; };
  cb.on_closed = [&](const std::string& r) { reason = r; };
  auto c = TcpConnection::connect(loop_, bound.endpoint(), milliseconds(2000), cb);
  ASSERT_TRUE(runUntil([&] { return !reason.empty(); }));
  EXPECT_EQ(reason, "connection refused");
  EXPECT_EQ(connected, 0);
  EXPECT_TRUE(c->closed());
  EXPECT_FALSE(c->write(Bytes{1}));
  EXPECT_EQ(c->stats().refused_writes, 1u);
}

TEST_F(TcpTest, ListenerThatNeverAcceptsTimesOut) {
  // Backlog 0 holds one finished connection; with it queued and never accepted, the kernel drops
  // further SYNs, so our connect waits until its own timeout.
  RawSocket full;
  ASSERT_EQ(::listen(full.fd, 0), 0);
  int filler = rawConnect(full.port);
  std::string reason;
  TcpConnection::Callbacks cb;
  cb.on_closed = [&](const std::string& r) { reason = r; };
  auto start = Clock::now();
  auto c = TcpConnection::connect(loop_, full.endpoint(), milliseconds(300), cb);
  ASSERT_TRUE(runUntil([&] { return !reason.empty(); }));
  auto took = Clock::now() - start;
  EXPECT_EQ(reason, "timed out");
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(1500));
  ::close(filler);
}

TEST_F(TcpTest, PeerCloseIsReportedOnBothSides) {
  listen();
  std::string client_reason;
  std::string server_reason;
  TcpConnection::Callbacks cb;
  cb.on_closed = [&](const std::string& r) { client_reason = r; };
  auto c = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), cb);
  ASSERT_TRUE(runUntil([&] { return c->connected() && server_.size() == 1; }));
  TcpConnection::Callbacks scb;
  scb.on_closed = [&](const std::string& r) { server_reason = r; };
  server_[0]->start(scb);
  server_[0]->close();
  EXPECT_TRUE(server_reason.empty()) << "on_closed is never called from inside close()";
  ASSERT_TRUE(runUntil([&] { return !client_reason.empty() && !server_reason.empty(); }));
  EXPECT_EQ(client_reason, "closed by peer");
  EXPECT_EQ(server_reason, "closed");
}

TEST_F(TcpTest, ResetIsReported) {
  RawSocket raw;
  ASSERT_EQ(::listen(raw.fd, 4), 0);
  std::string reason;
  TcpConnection::Callbacks cb;
  cb.on_closed = [&](const std::string& r) { reason = r; };
  auto c = TcpConnection::connect(loop_, raw.endpoint(), milliseconds(2000), cb);
  ASSERT_TRUE(runUntil([&] { return c->connected(); }));
  int accepted = ::accept(raw.fd, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  linger lg{1, 0};  // close with RST
  ::setsockopt(accepted, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(accepted);
  ASSERT_TRUE(runUntil([&] { return !reason.empty(); }));
  EXPECT_EQ(reason, "reset by peer");
}

TEST_F(TcpTest, SendQueueIsBoundedAndDrainsIntact) {
  listen();
  auto c = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), {});
  ASSERT_TRUE(runUntil([&] { return c->connected() && server_.size() == 1; }));
  // The server does not read yet: the kernel buffers fill, then our queue, then writes are refused.
  const std::size_t chunk = 64 * 1024;
  std::size_t accepted_bytes = 0;
  std::size_t refused = 0;
  for (int i = 0; i < 2000 && refused == 0; ++i) {
    if (c->write(pattern(chunk, static_cast<unsigned>(i)))) {
      accepted_bytes += chunk;
    } else {
      ++refused;
    }
  }
  ASSERT_EQ(refused, 1u) << "the queue must fill up before 2000 * 64 KiB";
  EXPECT_EQ(c->stats().refused_writes, 1u);
  EXPECT_LE(c->queuedBytes(), TcpConnection::kDefaultSendLimit);
  EXPECT_GT(c->queuedBytes() + chunk, TcpConnection::kDefaultSendLimit);
  const std::size_t room = c->sendLimit() - c->queuedBytes();
  EXPECT_TRUE(c->write(Bytes(room, 0x5a))) << "fits exactly";
  accepted_bytes += room;
  EXPECT_FALSE(c->write(Bytes{1}));

  std::size_t received = 0;
  bool intact = true;
  TcpConnection::Callbacks scb;
  scb.on_data = [&](std::span<std::uint8_t> b) {
    for (std::uint8_t x : b) {
      std::size_t i = received++;
      std::size_t block = i / chunk;
      if (block < accepted_bytes / chunk &&
          x != patternByte(i % chunk, static_cast<unsigned>(block))) {
        intact = false;
      }
    }
  };
  server_[0]->start(scb);
  ASSERT_TRUE(runUntil([&] { return received >= accepted_bytes; }, milliseconds(20000)));
  EXPECT_EQ(received, accepted_bytes);
  EXPECT_TRUE(intact);
  EXPECT_EQ(c->queuedBytes(), 0u);
}

TEST_F(TcpTest, DestroyingInsideCallbacksIsSafe) {
  listen();
  std::unique_ptr<TcpConnection> c;
  std::string reason;
  TcpConnection::Callbacks cb;
  cb.on_data = [&](std::span<std::uint8_t>) { c.reset(); };  // destroyed inside on_data
  c = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), cb);
  TcpConnection* raw_c = c.get();
  ASSERT_TRUE(runUntil([&] { return raw_c->connected() && server_.size() == 1; }));
  // Queue enough that a write is still in flight when the client goes away.
  ASSERT_TRUE(server_[0]->write(Bytes(3000, 7)));
  ASSERT_TRUE(runUntil([&] { return c == nullptr; }));

  // And inside on_closed.
  std::unique_ptr<TcpConnection> d;
  TcpConnection::Callbacks dcb;
  dcb.on_closed = [&](const std::string& r) {
    reason = r;
    d.reset();
  };
  d = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), dcb);
  ASSERT_TRUE(runUntil([&] { return server_.size() == 2; }));
  server_[1]->start({});
  server_[1]->close();
  ASSERT_TRUE(runUntil([&] { return d == nullptr; }));
  EXPECT_EQ(reason, "closed by peer");
}

TEST_F(TcpTest, DestroyWithWritesInFlightFreesEverything) {
  listen();
  auto c = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), {});
  ASSERT_TRUE(runUntil([&] { return c->connected() && server_.size() == 1; }));
  for (int i = 0; i < 200; ++i) {
    (void)c->write(pattern(64 * 1024, 1));
  }
  EXPECT_GT(c->queuedBytes(), 0u);
  c.reset();  // a uv_write is in flight; its cancelled callback frees it
  auto d = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), {});
  d->close("given up");  // a pending connect request, cancelled likewise
  std::string reason;
  auto e = TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(2000), {});
  TcpConnection::Callbacks ecb;
  ecb.on_closed = [&](const std::string& r) { reason = r; };
  e->start(ecb);
  e->close("given up");
  e->close("second reason is ignored");
  ASSERT_TRUE(runUntil([&] { return !reason.empty(); }));
  EXPECT_EQ(reason, "given up");
}

TEST_F(TcpTest, PortInUseIsAClearError) {
  listen();
  try {
    auto again = TcpListener::listen(loop_, listener_->localEndpoint(), {});
    FAIL() << "a second listener on the same port must fail";
  } catch (const NetError& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(listener_->localEndpoint().port())),
              std::string::npos);
  }
  try {
    auto bad = TcpListener::listen(loop_, ep("192.0.2.1:0"), {});
    FAIL() << "an address no interface has must fail";
  } catch (const NetError& e) {
    EXPECT_NE(std::string(e.what()).find("no local interface has address 192.0.2.1"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TcpTest, DualStackListenerAcceptsIpv4) {
  std::unique_ptr<TcpListener> l;
  try {
    l = TcpListener::listen(loop_, ep("[::]:0"), [this](std::unique_ptr<TcpConnection> c) {
      server_.push_back(std::move(c));
    });
  } catch (const NetError& e) {
    GTEST_FAIL() << "IPv6 unavailable here: " << e.what();
  }
  Endpoint to(*protocol::IpAddress::parse("127.0.0.1"), l->localEndpoint().port());
  auto c = TcpConnection::connect(loop_, to, milliseconds(2000), {});
  ASSERT_TRUE(runUntil([&] { return server_.size() == 1; }));
  EXPECT_TRUE(server_[0]->remote().address().isV4()) << server_[0]->remote().toString();
  c.reset();
  server_.clear();
  l.reset();
}

}  // namespace
}  // namespace vpn::net::test
