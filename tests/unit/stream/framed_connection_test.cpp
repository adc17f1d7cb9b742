#include "stream/framed_connection.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "net/net_error.hpp"
#include "net/tcp_listener.hpp"
#include "stream/framed_listener.hpp"
#include "tests/unit/net/loop_fixture.hpp"

namespace vpn::stream::test {
namespace {

using Bytes = std::vector<std::uint8_t>;
using protocol::Endpoint;
using std::chrono::milliseconds;

Endpoint loopback(std::uint16_t port) {
  return Endpoint(*protocol::IpAddress::parse("127.0.0.1"), port);
}

Bytes datagram(std::size_t index, std::size_t size) {
  Bytes d(size);
  for (std::size_t i = 0; i < size; ++i) {
    d[i] = static_cast<std::uint8_t>((index * 151 + i * 13 + (i >> 8)) & 0xff);
  }
  return d;
}

// 1..300 byte by byte, the largest sizes, sizes around TLS record and read-buffer boundaries,
// and a spread over the whole range.
std::vector<std::size_t> testSizes() {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 1; s <= 300; ++s) {
    sizes.push_back(s);
  }
  for (std::size_t s :
       {65535u, 65534u, 65533u, 16382u, 16383u, 16384u, 16385u, 32768u, 1400u, 1u, 65535u}) {
    sizes.push_back(s);
  }
  for (std::size_t i = 0; i < 150; ++i) {
    sizes.push_back(1 + (i * 7919) % 65535);
  }
  return sizes;
}

// A CA-free self-made outer certificate: any certificate works for the camouflage TLS.
class CertDir {
 public:
  CertDir() {
    char tmpl[] = "/tmp/vpnpeer-stream-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
    crypto::CaOptions ca;
    ca.name = "outer-ca";
    ca.key_type = crypto::KeyType::kEcdsaP256;
    crypto::createCa(ca, path_ / "ca");
    crypto::SignOptions s;
    s.name = "rv.example.test";
    s.key_type = crypto::KeyType::kEcdsaP256;
    crypto::signCertificate(path_ / "ca", s, path_ / "server");
  }
  ~CertDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path cert() const { return path_ / "server.crt"; }
  std::filesystem::path key() const { return path_ / "server.key"; }

 private:
  std::filesystem::path path_;
};

// One side's view of a connection: what it received and how it ended.
struct Side {
  std::vector<Bytes> received;
  std::optional<std::string> closed;
  int established = 0;
};

class FramedTest : public net::test::LoopTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (GetParam()) {
      server_tls_.emplace(crypto::TlsStreamContext::server(certs_.cert(), certs_.key()));
      client_tls_.emplace(crypto::TlsStreamContext::client("rv.example.test"));
    }
  }
  void TearDown() override {
    accepted_.clear();
    listener_.reset();
    LoopTest::TearDown();
  }

  crypto::TlsStreamContext* serverTls() { return server_tls_ ? &*server_tls_ : nullptr; }
  crypto::TlsStreamContext* clientTls() { return client_tls_ ? &*client_tls_ : nullptr; }

  FramedConnection::Callbacks record(Side& side) {
    FramedConnection::Callbacks cb;
    cb.on_datagram = [&side](FramedConnection&, std::span<std::uint8_t> d) {
      side.received.emplace_back(d.begin(), d.end());
    };
    cb.on_closed = [&side](FramedConnection&, const std::string& r) {
      EXPECT_FALSE(side.closed.has_value()) << "on_closed twice";
      side.closed = r;
    };
    cb.on_established = [&side](FramedConnection&) { ++side.established; };
    return cb;
  }

  // A listener whose connections echo every datagram and record into server_.
  void listenEcho(Duration handshake_timeout = FramedListener::kDefaultHandshakeTimeout) {
    FramedConnection::Callbacks cb = record(server_);
    cb.on_datagram = [this](FramedConnection& c, std::span<std::uint8_t> d) {
      server_.received.emplace_back(d.begin(), d.end());
      EXPECT_TRUE(c.send(d));
    };
    listener_ = FramedListener::open(
        loop_, loopback(0), serverTls(),
        [this](std::unique_ptr<FramedConnection> c) { accepted_.push_back(std::move(c)); }, cb,
        handshake_timeout);
  }

  CertDir certs_;
  std::optional<crypto::TlsStreamContext> server_tls_;
  std::optional<crypto::TlsStreamContext> client_tls_;
  std::unique_ptr<FramedListener> listener_;
  std::vector<std::unique_ptr<FramedConnection>> accepted_;
  Side server_;
  Side client_;
};

INSTANTIATE_TEST_SUITE_P(PlainAndTls, FramedTest, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "Tls" : "Plain"; });

TEST_P(FramedTest, EchoesDatagramsOfEverySizeIntactAndInOrder) {
  listenEcho();
  EXPECT_EQ(listener_->isTls(), GetParam());
  auto client = FramedConnection::connect(loop_, listener_->localEndpoint(), clientTls(),
                                          milliseconds(3000), record(client_));
  EXPECT_FALSE(client->established());
  EXPECT_EQ(client->isTls(), GetParam());
  EXPECT_TRUE(client->outbound());
  const auto sizes = testSizes();
  std::size_t next = 0;
  std::size_t total = 0;
  // Sends are queued from the start (while connecting); top up whenever the queue runs low.
  auto topUp = [&] {
    while (next < sizes.size() && client->queuedBytes() < 512 * 1024) {
      ASSERT_TRUE(client->send(datagram(next, sizes[next])));
      total += sizes[next];
      ++next;
    }
  };
  topUp();
  ASSERT_TRUE(runUntil(
      [&] {
        topUp();
        return client_.received.size() == sizes.size();
      },
      milliseconds(30000)));
  ASSERT_EQ(accepted_.size(), 1u);
  EXPECT_TRUE(client->established());
  EXPECT_TRUE(accepted_[0]->established());
  EXPECT_EQ(client_.established, 1);
  EXPECT_EQ(server_.established, GetParam() ? 1 : 0);
  ASSERT_EQ(server_.received.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_EQ(server_.received[i], datagram(i, sizes[i])) << "datagram " << i;
    ASSERT_EQ(client_.received[i], datagram(i, sizes[i])) << "echo " << i;
  }
  EXPECT_EQ(client->stats().frames_out, sizes.size());
  EXPECT_EQ(client->stats().frames_in, sizes.size());
  EXPECT_EQ(client->stats().bytes_out, total);
  EXPECT_EQ(accepted_[0]->stats().bytes_in, total);
  EXPECT_EQ(client->stats().refused_sends, 0u);
  EXPECT_EQ(client->remote(), listener_->localEndpoint());
  EXPECT_FALSE(client_.closed.has_value());
}

TEST_P(FramedTest, CorkedDatagramsWaitForUncorkThenArriveWholeAndInOrder) {
  listenEcho();
  auto client = FramedConnection::connect(loop_, listener_->localEndpoint(), clientTls(),
                                          milliseconds(3000), record(client_));
  ASSERT_TRUE(runUntil([&] { return client->established() && accepted_.size() == 1; },
                       milliseconds(3000)));
  // The small sizes, the ones around record and buffer boundaries: about 400 KiB.
  auto sizes = testSizes();
  sizes.resize(311);
  for (int round = 0; round < 2; ++round) {  // corking again after an uncork works the same
    SCOPED_TRACE("round " + std::to_string(round));
    server_.received.clear();
    client_.received.clear();
    client->cork();
    EXPECT_TRUE(client->corked());
    std::size_t total = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE(client->send(datagram(i, sizes[i])));
      total += sizes[i];
    }
    // With TLS, full 16 KiB records are encrypted as they fill; nothing leaves before uncork.
    EXPECT_GE(client->queuedBytes(), total);
    EXPECT_FALSE(runUntil([&] { return !server_.received.empty(); }, milliseconds(100)));
    EXPECT_TRUE(server_.received.empty());
    client->uncork();
    EXPECT_FALSE(client->corked());
    ASSERT_TRUE(runUntil([&] { return client_.received.size() == sizes.size(); },
                         milliseconds(10000)));
    ASSERT_EQ(server_.received.size(), sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_EQ(server_.received[i], datagram(i, sizes[i])) << "datagram " << i;
      ASSERT_EQ(client_.received[i], datagram(i, sizes[i])) << "echo " << i;
    }
  }
  EXPECT_EQ(client->stats().refused_sends, 0u);
  EXPECT_FALSE(client_.closed.has_value());
}

TEST_P(FramedTest, ClosedPortReportsConnectionRefused) {
  // Bound but never listening: the kernel answers the SYN with a reset.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto client = FramedConnection::connect(loop_, loopback(ntohs(a.sin_port)), clientTls(),
                                          milliseconds(3000), record(client_));
  EXPECT_TRUE(client->send(Bytes{1, 2, 3}));
  ASSERT_TRUE(runUntil([&] { return client_.closed.has_value(); }));
  EXPECT_EQ(*client_.closed, "connection refused");
  EXPECT_EQ(client_.established, 0);
  EXPECT_FALSE(client->send(Bytes{1}));
  ::close(fd);
}

TEST_P(FramedTest, ListenerThatNeverAcceptsTimesOut) {
  // Backlog 0 holds one finished connection; the kernel drops further SYNs while it waits.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  auto start = Clock::now();
  auto client = FramedConnection::connect(loop_, loopback(ntohs(a.sin_port)), clientTls(),
                                          milliseconds(250), record(client_));
  ASSERT_TRUE(runUntil([&] { return client_.closed.has_value(); }));
  EXPECT_EQ(*client_.closed, "timed out");
  EXPECT_GE(Clock::now() - start, milliseconds(240));
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  ::close(filler);
  ::close(lfd);
}

TEST_P(FramedTest, ServerClosingMidStreamIsReportedToTheClient) {
  listenEcho();
  auto client = FramedConnection::connect(loop_, listener_->localEndpoint(), clientTls(),
                                          milliseconds(3000), record(client_));
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->send(datagram(i, 100)));
  }
  ASSERT_TRUE(runUntil([&] { return client_.received.size() == 3; }));
  accepted_[0]->close();
  ASSERT_TRUE(runUntil([&] { return client_.closed && server_.closed; }));
  EXPECT_EQ(*client_.closed, "closed by peer");
  EXPECT_EQ(*server_.closed, "closed");
  EXPECT_TRUE(client->closed());
  EXPECT_FALSE(client->send(datagram(9, 10)));
}

TEST_P(FramedTest, SendRefusesEmptyOversizeAndPastTheQueueBound) {
  // The server never reads: kernel buffers fill, then our queue (with TLS, the handshake never
  // finishes and the datagrams wait as plaintext: the same bound applies).
  std::vector<std::unique_ptr<net::TcpConnection>> silent;
  auto raw = net::TcpListener::listen(
      loop_, loopback(0),
      [&](std::unique_ptr<net::TcpConnection> c) { silent.push_back(std::move(c)); });
  auto client = FramedConnection::connect(loop_, raw->localEndpoint(), clientTls(),
                                          milliseconds(5000), record(client_));
  EXPECT_FALSE(client->send(Bytes{}));
  EXPECT_FALSE(client->send(Bytes(65536, 1)));
  EXPECT_EQ(client->stats().refused_sends, 2u);
  ASSERT_TRUE(runUntil([&] { return silent.size() == 1; }));
  std::size_t refused = 0;
  std::size_t sent = 0;
  for (int i = 0; i < 1000 && refused == 0; ++i) {
    if (client->send(datagram(0, 65535))) {
      ++sent;
    } else {
      ++refused;
    }
    if (i % 16 == 0) {
      uv_run(&loop_, UV_RUN_NOWAIT);  // let the kernel take its share
    }
  }
  EXPECT_EQ(refused, 1u);
  EXPECT_GT(sent, 10u);
  EXPECT_LE(client->queuedBytes(), FramedConnection::kSendLimit);
  EXPECT_GT(client->queuedBytes() + 65537 + 200, FramedConnection::kSendLimit);
  EXPECT_EQ(client->stats().refused_sends, 3u);
  EXPECT_FALSE(client_.closed.has_value()) << "a full queue refuses, it does not close";
  client.reset();
  silent.clear();
  raw.reset();
}

TEST_P(FramedTest, DestroyingInsideCallbacksIsSafe) {
  listenEcho();
  std::unique_ptr<FramedConnection> client;
  int datagrams = 0;
  FramedConnection::Callbacks cb;
  cb.on_datagram = [&](FramedConnection& c, std::span<std::uint8_t>) {
    EXPECT_EQ(&c, client.get());
    ++datagrams;
    client.reset();  // more datagrams are in the same read; none may be delivered now
  };
  client = FramedConnection::connect(loop_, listener_->localEndpoint(), clientTls(),
                                     milliseconds(3000), cb);
  for (std::size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(client->send(datagram(i, 10)));
  }
  ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
  EXPECT_EQ(datagrams, 1);
  ASSERT_TRUE(runUntil([&] { return server_.closed.has_value(); }));
  // The kernel resets instead of closing when the client leaves unread bytes behind.
  EXPECT_TRUE(*server_.closed == "closed by peer" || *server_.closed == "reset by peer")
      << *server_.closed;

  // Destroyed inside on_closed, after close() from inside on_datagram.
  std::unique_ptr<FramedConnection> other;
  std::string reason;
  FramedConnection::Callbacks ocb;
  ocb.on_datagram = [&](FramedConnection& c, std::span<std::uint8_t>) { c.close("enough"); };
  ocb.on_closed = [&](FramedConnection&, const std::string& r) {
    reason = r;
    other.reset();
  };
  other = FramedConnection::connect(loop_, listener_->localEndpoint(), clientTls(),
                                    milliseconds(3000), ocb);
  ASSERT_TRUE(other->send(datagram(1, 10)));
  ASSERT_TRUE(other->send(datagram(2, 10)));
  ASSERT_TRUE(runUntil([&] { return other == nullptr; }));
  EXPECT_EQ(reason, "enough");
}

TEST_P(FramedTest, ContextOfTheWrongRoleIsRefused) {
  if (GetParam()) {
    EXPECT_THROW(FramedListener::open(loop_, loopback(0), clientTls(), {}, {}), net::NetError);
    EXPECT_THROW(FramedConnection::connect(loop_, loopback(1), serverTls(), milliseconds(100), {}),
                 net::NetError);
  } else {
    listenEcho();
    EXPECT_THROW(FramedListener::open(loop_, listener_->localEndpoint(), nullptr, {}, {}),
                 net::NetError);
  }
}

// Raw TCP clients speaking something else to a listener.
class FramedRawClientTest : public FramedTest {
 protected:
  // Connects a plain TcpConnection and sends bytes once connected.
  std::unique_ptr<net::TcpConnection> rawClient(const Bytes& bytes) {
    auto c = net::TcpConnection::connect(loop_, listener_->localEndpoint(), milliseconds(3000), {});
    EXPECT_TRUE(c->write(bytes));
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(PlainAndTls, FramedRawClientTest, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "Tls" : "Plain"; });

TEST_P(FramedRawClientTest, ProtocolViolationsClose) {
  listenEcho(milliseconds(200));
  if (!GetParam()) {
    auto raw = rawClient(Bytes{0x00, 0x02, 'h', 'i', 0x00, 0x00, 0x00, 0x01, 'x'});
    ASSERT_TRUE(runUntil([&] { return server_.closed.has_value(); }));
    EXPECT_EQ(*server_.closed, "protocol error: zero-length frame");
    ASSERT_EQ(server_.received.size(), 1u) << "the frame before the bad one is delivered";
    EXPECT_EQ(server_.received[0], (Bytes{'h', 'i'}));
    return;
  }
  std::string get = "GET / HTTP/1.1\r\nHost: rv.example.test\r\n\r\n";
  auto raw = rawClient(Bytes(get.begin(), get.end()));
  ASSERT_TRUE(runUntil([&] { return server_.closed.has_value(); }));
  EXPECT_EQ(server_.closed->rfind("TLS failed: ", 0), 0u) << *server_.closed;
  EXPECT_TRUE(server_.received.empty());
}

TEST_P(FramedRawClientTest, SilentClientHitsTheHandshakeTimeout) {
  listenEcho(milliseconds(200));
  auto raw = rawClient(Bytes{});
  ASSERT_TRUE(runUntil([&] { return accepted_.size() == 1; }));
  if (!GetParam()) {
    // Plain connections have no handshake: the silent client stays connected.
    EXPECT_TRUE(accepted_[0]->established());
    ASSERT_FALSE(runUntil([&] { return server_.closed.has_value(); }, milliseconds(400)));
    return;
  }
  EXPECT_FALSE(accepted_[0]->established());
  ASSERT_TRUE(accepted_[0]->send(Bytes{1, 2}));  // held until the handshake that never comes
  ASSERT_TRUE(runUntil([&] { return server_.closed.has_value(); }));
  EXPECT_EQ(*server_.closed, "timed out");
}

}  // namespace
}  // namespace vpn::stream::test
