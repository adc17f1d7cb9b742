// The rendezvous server end to end on loopback: the real program core (Server, in a thread of its
// own) with a UDP socket, a TCP listener (with and without the outer TLS) and the control socket.
// Two hand-written peers, one over UDP and one over TCP, register, bind a relay channel and relay
// packets both ways; the status shows it; closing the TCP connection makes the peer unreachable.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <thread>

#include "net/timer.hpp"
#include "net/udp_transport.hpp"
#include "net/unix_client.hpp"
#include "protocol/relay_packet.hpp"
#include "rendezvous/server.hpp"
#include "stream/framed_connection.hpp"
#include "tests/unit/net/loop_fixture.hpp"
#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;
using std::chrono::milliseconds;

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}

// Runs a Server on its own thread; stops it with SIGTERM (what the program reacts to).
class ServerThread {
 public:
  explicit ServerThread(config::RendezvousConfig cfg) : server_(std::move(cfg)) {
    thread_ = std::thread([this] {
      try {
        rc_ = server_.run();
      } catch (const std::exception& e) {
        error_ = e.what();
        rc_ = -1;
      }
      done_ = true;
    });
  }
  ~ServerThread() { stop(); }

  // Call only once the server answered (its signal watchers are installed by then).
  int stop() {
    if (thread_.joinable()) {
      if (!done_) {
        ::kill(::getpid(), SIGTERM);
      }
      thread_.join();
    }
    return rc_;
  }
  const std::string& error() const { return error_; }

 private:
  rendezvous::Server server_;
  std::thread thread_;
  int rc_ = -2;
  std::string error_;
  std::atomic<bool> done_{false};
};

std::vector<std::uint8_t> relayPacket(std::uint16_t channel, std::size_t inner, std::uint8_t fill) {
  std::vector<std::uint8_t> p(protocol::kRelayHeaderSize + inner);
  protocol::writeRelayHeader(channel, p);
  for (std::size_t i = protocol::kRelayHeaderSize; i < p.size(); ++i) {
    p[i] = static_cast<std::uint8_t>(fill + i);
  }
  p[protocol::kRelayHeaderSize] = protocol::kTypeData;
  return p;
}

// A server on loopback ports the kernel picks (UDP and TCP), with the rv1 certificate of `pki`
// (makeRendezvousContext writes it) and a control socket in its directory.
config::RendezvousConfig loopbackConfig(const TestPki& pki, bool tls) {
  config::RendezvousConfig cfg;
  cfg.listen = {ep("127.0.0.1:0")};
  cfg.tcp_listen = {ep("127.0.0.1:0")};  // the file insists on a fixed port; the server does not
  cfg.tcp_tls = tls;
  cfg.ca = pki.dir() / "ca.crt";
  cfg.cert = pki.dir() / "rv-rv1-r.crt";
  cfg.key = pki.dir() / "rv-rv1-r.key";
  cfg.control_socket = pki.dir() / "rv.sock";
  cfg.user = "root";  // the server runs inside the test process, which must stay root
  return cfg;
}

// The first status JSON the server answers (it may still be starting); empty if none comes.
std::string awaitStatus(const TestPki& pki) {
  for (int i = 0; i < 200; ++i) {
    try {
      return net::unixRequest(pki.dir() / "rv.sock", "VPNPEER/1 status json", milliseconds(2000));
    } catch (const std::exception&) {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  return {};
}

class RendezvousServer : public net::test::LoopTest, public ::testing::WithParamInterface<bool> {
 protected:
  // Sends whatever the peer writes over the TCP connection (the `to` endpoint is the server's).
  class TcpSink final : public session::DatagramSink {
   public:
    explicit TcpSink(std::unique_ptr<stream::FramedConnection>& c) : c_(c) {}
    void sendDatagram(const Endpoint&, std::span<const std::uint8_t> bytes) override {
      if (c_) {
        c_->send(bytes);
      }
    }

   private:
    std::unique_ptr<stream::FramedConnection>& c_;
  };
  class UdpSink final : public session::DatagramSink {
   public:
    explicit UdpSink(std::unique_ptr<net::UvUdpTransport>& u) : u_(u) {}
    void sendDatagram(const Endpoint& to, std::span<const std::uint8_t> bytes) override {
      u_->send(to, bytes);
      u_->flush();
    }

   private:
    std::unique_ptr<net::UvUdpTransport>& u_;
  };

  std::string status() {
    return net::unixRequest(pki.dir() / "rv.sock", "VPNPEER/1 status json", milliseconds(2000));
  }

  TestPki pki;
};

class RendezvousServerLimits : public net::test::LoopTest {
 protected:
  std::string status() {
    return net::unixRequest(pki.dir() / "rv.sock", "VPNPEER/1 status json", milliseconds(2000));
  }
  TestPki pki;
};

TEST_P(RendezvousServer, PeersOverUdpAndTcpRelayThroughIt) {
  const bool tls = GetParam();
  // The rendezvous certificate and its files (makeRendezvousContext writes them).
  auto rv_ctx = makeRendezvousContext(pki, "rv1");
  ServerThread server(loopbackConfig(pki, tls));

  // Learn the bound ports from the status.
  std::string st = awaitStatus(pki);
  ASSERT_FALSE(st.empty()) << server.error();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(st, m, std::regex("\"primary (127\\.0\\.0\\.1:[0-9]+)\"")))
      << st;
  Endpoint rv_udp = ep(m[1].str().c_str());
  ASSERT_TRUE(std::regex_search(
      st, m, std::regex(std::string("\"tcp (127\\.0\\.0\\.1:[0-9]+)") + (tls ? " \\(tls\\)" : "") +
                        "\"")))
      << st;
  Endpoint rv_tcp = ep(m[1].str().c_str());

  // bob over UDP, alice over TCP (outer TLS as the server has it).
  auto bob_tls = pki.makeContext("bob", {"10.42.0.2/24"});
  auto alice_tls = pki.makeContext("alice", {"10.42.0.1/24"});
  RvTestPeer bob(*bob_tls, "bob", "rv1", rv_udp);
  RvTestPeer alice(*alice_tls, "alice", "rv1", rv_udp);
  std::vector<std::vector<std::uint8_t>> bob_relayed, alice_relayed;

  std::unique_ptr<net::UvUdpTransport> udp;
  UdpSink to_rv_udp(udp);
  udp = net::UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 65535,
                                  [&](std::span<net::ReceivedDatagram> batch) {
                                    for (auto& d : batch) {
                                      if (protocol::classify(d.data) ==
                                          protocol::PacketFamily::kRelay) {
                                        bob_relayed.emplace_back(d.data.begin(), d.data.end());
                                      } else {
                                        bob.onDatagram(Clock::now(), d.data, to_rv_udp);
                                      }
                                    }
                                  });
  std::optional<crypto::TlsStreamContext> client_tls;
  if (tls) {
    client_tls.emplace(crypto::TlsStreamContext::client("rv.example.net"));
  }
  std::unique_ptr<stream::FramedConnection> conn;
  TcpSink to_rv_tcp(conn);
  bool conn_closed = false;
  stream::FramedConnection::Callbacks cb;
  cb.on_datagram = [&](stream::FramedConnection&, std::span<std::uint8_t> d) {
    if (protocol::classify(d) == protocol::PacketFamily::kRelay) {
      alice_relayed.emplace_back(d.begin(), d.end());
    } else {
      alice.onDatagram(Clock::now(), d, to_rv_tcp);
    }
  };
  cb.on_closed = [&](stream::FramedConnection&, const std::string&) { conn_closed = true; };
  conn = stream::FramedConnection::connect(loop_, rv_tcp, client_tls ? &*client_tls : nullptr,
                                           std::chrono::seconds(5), cb);

  net::Timer* tick_ptr = nullptr;
  net::Timer ticks(loop_, [&] {  // the peers' retransmission timers
    bob.onTimer(Clock::now(), to_rv_udp);
    alice.onTimer(Clock::now(), to_rv_tcp);
    tick_ptr->armAt(Clock::now() + milliseconds(20));
  });
  tick_ptr = &ticks;
  ticks.armAt(Clock::now());

  bob.start(Clock::now(), to_rv_udp);
  alice.start(Clock::now(), to_rv_tcp);
  ASSERT_TRUE(runUntil([&] { return bob.established() && alice.established(); }));
  bob.sendRegister({}, to_rv_udp, protocol::NatType::kFullCone);
  alice.sendRegister({}, to_rv_tcp, protocol::NatType::kUdpBlocked);
  ASSERT_TRUE(runUntil([&] {
    return lastOf<protocol::RegisteredMsg>(bob.inbox) && lastOf<protocol::RegisteredMsg>(alice.inbox);
  }));

  alice.sendRelayRequest(7, "bob", to_rv_tcp);
  ASSERT_TRUE(runUntil([&] { return lastOf<protocol::RelayBoundMsg>(bob.inbox) != nullptr; }));
  EXPECT_EQ(lastOf<protocol::RelayBoundMsg>(bob.inbox)->request_id, 0u);  // an offer
  bob.sendRelayRequest(8, "alice", to_rv_udp);                             // bob consents
  ASSERT_TRUE(runUntil([&] {
    return lastOf<protocol::RelayBoundMsg>(alice.inbox) &&
           lastOf<protocol::RelayBoundMsg>(bob.inbox)->request_id == 8u;
  }));
  std::uint16_t ch = lastOf<protocol::RelayBoundMsg>(alice.inbox)->channel;
  EXPECT_EQ(lastOf<protocol::RelayBoundMsg>(alice.inbox)->request_id, 7u);
  EXPECT_EQ(lastOf<protocol::RelayBoundMsg>(bob.inbox)->channel, ch);

  auto a2b = relayPacket(ch, 1400, 1);
  auto b2a = relayPacket(ch, 8000, 2);  // a jumbo inner packet over UDP
  conn->send(a2b);
  to_rv_udp.sendDatagram(rv_udp, b2a);
  ASSERT_TRUE(runUntil([&] { return !bob_relayed.empty() && !alice_relayed.empty(); }));
  EXPECT_EQ(bob_relayed[0], a2b);
  EXPECT_EQ(alice_relayed[0], b2a);

  st = status();
  EXPECT_NE(st.find("\"relayed_packets\":2"), std::string::npos) << st;
  EXPECT_NE(st.find("\"relay_binds\":1"), std::string::npos) << st;
  EXPECT_NE(st.find("\"tcp\":{\"connections\":1,\"accepted\":1"), std::string::npos) << st;
  EXPECT_NE(st.find("\"transport\":\"tcp\",\"unreachable\":false,\"nat_type\":\"udp-blocked\""),
            std::string::npos)
      << st;

  // alice's connection ends: the server marks her unreachable at once.
  conn->close();
  ASSERT_TRUE(runUntil([&] { return conn_closed; }));
  conn.reset();
  ASSERT_TRUE(runUntil([&] {
    return status().find("\"unreachable\":true") != std::string::npos;
  }));
  EXPECT_NE(status().find("\"tcp\":{\"connections\":0"), std::string::npos);

  ticks.cancel();
  udp->close();
  EXPECT_EQ(server.stop(), 0) << server.error();
}

// Finding 7: one host held every TCP slot by sending a few bytes a minute. Now a source gets
// tcp_max_per_source connections, and one that carries no session or handshake is closed after
// tcp_unused_timeout however many frames it sends.
TEST_F(RendezvousServerLimits, TcpPerSourceCapAndUnusedConnectionsClosed) {
  auto rv_tls = makeRendezvousContext(pki, "rv1");
  config::RendezvousConfig cfg = loopbackConfig(pki, false);
  cfg.tcp_max_per_source = 3;
  cfg.tcp_unused_timeout = std::chrono::seconds(1);
  ServerThread server(cfg);
  std::string st = awaitStatus(pki);
  ASSERT_FALSE(st.empty()) << server.error();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(st, m, std::regex("\"tcp (127\\.0\\.0\\.1:[0-9]+)\"")))
      << st;
  Endpoint rv_tcp = ep(m[1].str().c_str());

  constexpr int kConns = 5;
  std::vector<std::unique_ptr<stream::FramedConnection>> conns;
  int established = 0, closed = 0;
  stream::FramedConnection::Callbacks cb;
  cb.on_established = [&](stream::FramedConnection&) { ++established; };
  cb.on_closed = [&](stream::FramedConnection&, const std::string&) { ++closed; };
  cb.on_datagram = [](stream::FramedConnection&, std::span<std::uint8_t>) {};
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(stream::FramedConnection::connect(loop_, rv_tcp, nullptr,
                                                      std::chrono::seconds(5), cb));
  }
  // Two are closed at accept; the other three stay until they have been unused for a second,
  // junk frames or not.
  ASSERT_TRUE(runUntil([&] { return established == kConns && closed >= 2; }));
  const std::uint8_t junk[] = {0xFF, 0x00, 0x01};
  for (auto& c : conns) {
    if (!c->closed()) {
      c->send(junk);
    }
  }
  ASSERT_TRUE(runUntil([&] { return closed == kConns; }, std::chrono::seconds(5)));
  st = status();
  EXPECT_NE(st.find("\"refused_per_source\":2"), std::string::npos) << st;
  EXPECT_NE(st.find("\"unused_closed\":3"), std::string::npos) << st;
  conns.clear();
  EXPECT_EQ(server.stop(), 0) << server.error();
}

// No tcp_listen key: a TLS listener on TCP at the UDP socket's address and port, as bound. When
// another program holds that TCP port the server still starts, without it.
TEST_F(RendezvousServerLimits, DefaultTcpListenerIsAtTheUdpPortOrLeftOut) {
  auto rv_tls = makeRendezvousContext(pki, "rv1");
  config::RendezvousConfig cfg = loopbackConfig(pki, true);
  cfg.tcp_listen.clear();
  cfg.tcp_listen_default = true;
  {
    ServerThread server(cfg);
    std::string st = awaitStatus(pki);
    ASSERT_FALSE(st.empty()) << server.error();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(st, m, std::regex("\"primary (127\\.0\\.0\\.1:[0-9]+)\"")))
        << st;
    EXPECT_NE(st.find("\"tcp " + m[1].str() + " (tls)\""), std::string::npos) << st;
    EXPECT_EQ(server.stop(), 0) << server.error();
  }
  // Hold a TCP port, then ask the server for UDP on the same number.
  int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  Endpoint taken(*protocol::IpAddress::parse("127.0.0.1"), ntohs(sa.sin_port));
  cfg.listen = {taken};
  ServerThread server(cfg);
  std::string st = awaitStatus(pki);
  ::close(holder);
  ASSERT_FALSE(st.empty()) << server.error();
  EXPECT_NE(st.find("\"primary " + taken.toString() + "\""), std::string::npos) << st;
  EXPECT_EQ(st.find("\"tcp "), std::string::npos) << st;
  EXPECT_EQ(server.stop(), 0) << server.error();
}

INSTANTIATE_TEST_SUITE_P(OuterTls, RendezvousServer, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Tls" : "Plain"; });

}  // namespace
}  // namespace vpn::test
