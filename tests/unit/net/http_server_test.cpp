// The metrics HTTP server on loopback, with raw client sockets: a GET is answered and closed;
// other methods, unknown paths, malformed, huge and slow requests are refused without harm, and
// connections beyond the limit are closed at once.
#include "net/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "loop_fixture.hpp"

namespace vpn::net::test {
namespace {

using protocol::Endpoint;

// A non-blocking client: sends its request, collects the answer until the server closes.
struct Client {
  int fd = -1;
  std::string got;
  bool eof = false;
  explicit Client(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
  }
  ~Client() { ::close(fd); }
  void send(const std::string& s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }
  bool poll() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        eof = true;
      }
      return eof;
    }
  }
};

class HttpServerTest : public LoopTest {
 protected:
  std::unique_ptr<HttpServer> start(HttpServer::Limits limits = {}) {
    return HttpServer::listen(
        loop_, *Endpoint::parse("127.0.0.1:0"),
        [](std::string_view path) -> std::optional<std::string> {
          if (path == "/metrics") {
            return std::string("# HELP x y\n# TYPE x gauge\nx 1\n");
          }
          return std::nullopt;
        },
        limits);
  }
  std::string exchange(HttpServer& s, const std::string& request) {
    Client c(s.localEndpoint().port());
    c.send(request);
    EXPECT_TRUE(runUntil([&] { return c.poll(); }));
    return c.got;
  }
};

TEST_F(HttpServerTest, GetMetricsIsAnsweredAndClosed) {
  auto s = start();
  std::string r = exchange(*s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(r.find("Content-Length: 30\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), "# HELP x y\n# TYPE x gauge\nx 1\n");
  // A query string is ignored; a request ending in bare newlines is accepted too.
  EXPECT_EQ(exchange(*s, "GET /metrics?x=1 HTTP/1.0\n\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(s->counters().answered, 2u);
  EXPECT_TRUE(runUntil([&] { return s->connections() == 0; }));
}

TEST_F(HttpServerTest, WrongRequestsGetTheirStatus) {
  auto s = start();
  EXPECT_EQ(exchange(*s, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(exchange(*s, "GET /secret HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(exchange(*s, "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange(*s, "GET /metrics HTTP/2.0 extra\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange(*s, "GET /metrics HTTP/1.1\r\nX: " + std::string(8000, 'a') + "\r\n\r\n")
                .rfind("HTTP/1.1 431", 0),
            0u);
  EXPECT_EQ(s->counters().rejected, 5u);
  EXPECT_EQ(s->counters().answered, 0u);
}

TEST_F(HttpServerTest, SlowRequestsAreCutOffAndExtraConnectionsRefused) {
  HttpServer::Limits limits;
  limits.timeout = std::chrono::milliseconds(200);
  limits.max_connections = 2;
  auto s = start(limits);
  Client slow1(s->localEndpoint().port()), slow2(s->localEndpoint().port());
  slow1.send("GET /met");
  slow2.send("GET /met");
  ASSERT_TRUE(runUntil([&] { return s->connections() == 2; }));
  Client third(s->localEndpoint().port());
  EXPECT_TRUE(runUntil([&] { return third.poll(); }));  // closed at accept, no answer
  EXPECT_TRUE(third.got.empty());
  EXPECT_EQ(s->counters().refused, 1u);
  EXPECT_TRUE(runUntil([&] { return slow1.poll() && slow2.poll(); }));
  EXPECT_EQ(s->counters().timed_out, 2u);
  // It still serves afterwards.
  EXPECT_EQ(exchange(*s, "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace vpn::net::test
