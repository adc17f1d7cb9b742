#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "loop_fixture.hpp"
#include "net/net_error.hpp"
#include "net/unix_client.hpp"
#include "net/unix_server.hpp"

namespace vpn::net::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class UnixSocketTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    char tmpl[] = "/tmp/vpnpeer-net-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "run" / "vpnpeer" / "alice.sock";
  }
  void TearDown() override {
    LoopTest::TearDown();
    fs::remove_all(dir_);
  }

  // Runs unixRequest on another thread while this thread runs the loop.
  std::string request(const std::string& line, milliseconds timeout = milliseconds(3000)) {
    std::atomic<bool> done{false};
    auto fut = std::async(std::launch::async, [&] {
      struct Done {
        std::atomic<bool>& d;
        ~Done() { d = true; }
      } mark{done};
      return unixRequest(path_, line, timeout);
    });
    runUntil([&] { return done.load(); });
    return fut.get();
  }

  static std::string echo(std::string_view req) { return "pong " + std::string(req) + "\n"; }

  fs::path dir_;
  fs::path path_;
};

TEST_F(UnixSocketTest, RoundTripCreatesParentAndRestrictsMode) {
  auto server = UnixServer::listen(loop_, path_, &UnixSocketTest::echo);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path_.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);

  EXPECT_EQ(request("status"), "pong status\n");
  EXPECT_EQ(request("peers --json\r"), "pong peers --json\n");  // '\r' is stripped
  EXPECT_EQ(request("already\n"), "pong already\n");           // no double newline
  runUntil([&] { return server->connectionCount() == 0; });
  EXPECT_EQ(server->connectionCount(), 0u);

  server->close();
  EXPECT_FALSE(fs::exists(path_)) << "close() must unlink the socket";
}

TEST_F(UnixSocketTest, StaleSocketIsReplaced) {
  fs::create_directories(path_.parent_path());
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);  // leaves the file behind, nobody listening: a crashed daemon
  }
  ASSERT_TRUE(fs::exists(path_));
  auto server = UnixServer::listen(loop_, path_, &UnixSocketTest::echo);
  EXPECT_EQ(request("hi"), "pong hi\n");
}

TEST_F(UnixSocketTest, SecondServerIsRefused) {
  auto first = UnixServer::listen(loop_, path_, &UnixSocketTest::echo);
  try {
    auto second = UnixServer::listen(loop_, path_, &UnixSocketTest::echo);
    FAIL() << "expected NetError";
  } catch (const NetError& e) {
    EXPECT_EQ(std::string(e.what()),
              "another vpnpeer is already running with control socket " + path_.string());
  }
  EXPECT_EQ(request("still"), "pong still\n");  // the first one is unharmed
}

TEST_F(UnixSocketTest, NonSocketFileIsNotRemoved) {
  fs::create_directories(path_.parent_path());
  { std::ofstream(path_.string()) << "precious"; }
  EXPECT_THROW(UnixServer::listen(loop_, path_, &UnixSocketTest::echo), NetError);
  EXPECT_TRUE(fs::exists(path_));
}

TEST_F(UnixSocketTest, OversizeRequestIsRejected) {
  std::size_t calls = 0;
  auto server = UnixServer::listen(loop_, path_, [&](std::string_view) {
    ++calls;
    return std::string("ok\n");
  });
  EXPECT_EQ(request(std::string(UnixServer::kMaxRequest + 100, 'x')),
            "error: request too long (max 4096 bytes)\n");
  EXPECT_EQ(calls, 0u);
  // Exactly the limit is fine.
  EXPECT_EQ(request(std::string(UnixServer::kMaxRequest, 'y')), "ok\n");
  EXPECT_EQ(calls, 1u);
}

TEST_F(UnixSocketTest, HandlerExceptionBecomesErrorResponse) {
  auto server = UnixServer::listen(loop_, path_, [](std::string_view) -> std::string {
    throw std::runtime_error("no such peer");
  });
  EXPECT_EQ(request("peer bob"), "error: no such peer\n");
}

TEST_F(UnixSocketTest, HandlerMayCloseTheServer) {
  std::unique_ptr<UnixServer> server;
  server = UnixServer::listen(loop_, path_, [&](std::string_view) {
    server->close();
    return std::string("bye\n");
  });
  EXPECT_EQ(request("shutdown"), "");  // closed without an answer
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(UnixSocketTest, StuckClientIsDisconnected) {
  auto server = UnixServer::listen(loop_, path_, &UnixSocketTest::echo, milliseconds(100));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::send(fd, "half a req", 10, 0), 10);  // never sends the newline
  ASSERT_TRUE(runUntil([&] { return server->connectionCount() == 1; }));
  ASSERT_TRUE(runUntil([&] { return server->connectionCount() == 0; }, milliseconds(2000)));
  char c = 0;
  EXPECT_EQ(::recv(fd, &c, 1, MSG_DONTWAIT), 0);  // EOF: the server hung up
  ::close(fd);
}

TEST_F(UnixSocketTest, ClientErrorsAreClearSentences) {
  try {
    unixRequest(path_, "status", milliseconds(500));
    FAIL() << "expected NetError";
  } catch (const NetError& e) {
    EXPECT_EQ(std::string(e.what()), "no vpnpeer is running (cannot connect to " +
                                         path_.string() + ": No such file or directory)");
  }
  // A server that never runs its loop: the client times out.
  auto server = UnixServer::listen(loop_, path_, &UnixSocketTest::echo);
  try {
    unixRequest(path_, "status", milliseconds(100));
    FAIL() << "expected NetError";
  } catch (const NetError& e) {
    EXPECT_EQ(std::string(e.what()),
              "vpnpeer did not answer within 100 ms (control socket " + path_.string() + ")");
  }
}

}  // namespace
}  // namespace vpn::net::test
