#include <gtest/gtest.h>

#include <filesystem>

#include "net/interfaces.hpp"
#include "net/resolver.hpp"
#include "tests/unit/net/loop_fixture.hpp"

namespace vpn::net::test {
namespace {

using ResolverTest = LoopTest;

TEST_F(ResolverTest, ResolvesLiteralsAndHostsFileNames) {
  Resolver r(loop_);
  std::vector<protocol::Endpoint> literal;
  std::vector<protocol::Endpoint> local;
  int done = 0;
  r.resolve("192.0.2.7", 3478, [&](std::vector<protocol::Endpoint> eps, const std::string& err) {
    EXPECT_EQ(err, "");
    literal = std::move(eps);
    ++done;
  });
  r.resolve("localhost", 3479, [&](std::vector<protocol::Endpoint> eps, const std::string& err) {
    EXPECT_EQ(err, "");
    local = std::move(eps);
    ++done;
  });
  ASSERT_TRUE(runUntil([&] { return done == 2; }));
  ASSERT_EQ(literal.size(), 1u);
  EXPECT_EQ(literal[0].toString(), "192.0.2.7:3478");
  ASSERT_FALSE(local.empty());
  EXPECT_TRUE(local[0].address().isLoopback());
  EXPECT_EQ(local[0].port(), 3479);
  EXPECT_EQ(r.outstanding(), 0u);
}

// A literal skips the thread pool but is still answered from the loop, never inside resolve(),
// and not at all once the Resolver is gone.
TEST_F(ResolverTest, LiteralsAreAnsweredOnTheNextIterationOrNever) {
  int calls = 0;
  {
    Resolver r(loop_);
    r.resolve("2001:db8::7", 3478, [&](std::vector<protocol::Endpoint> eps, const std::string&) {
      ASSERT_EQ(eps.size(), 1u);
      EXPECT_EQ(eps[0].toString(), "[2001:db8::7]:3478");
      ++calls;
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(r.outstanding(), 1u);
    ASSERT_TRUE(runUntil([&] { return calls == 1; }));
    EXPECT_EQ(r.outstanding(), 0u);
    r.resolve("192.0.2.8", 1, [&](std::vector<protocol::Endpoint>, const std::string&) { ++calls; });
  }
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(calls, 1);
}

TEST_F(ResolverTest, ReportsFailureInOneSentence) {
  Resolver r(loop_);
  std::string error;
  bool done = false;
  // .invalid never resolves (RFC 6761), and the resolver must say so rather than hang.
  r.resolve("no-such-host.invalid", 1, [&](std::vector<protocol::Endpoint> eps,
                                           const std::string& err) {
    EXPECT_TRUE(eps.empty());
    error = err;
    done = true;
  });
  ASSERT_TRUE(runUntil([&] { return done; }, std::chrono::milliseconds(15000)));
  EXPECT_NE(error.find("cannot resolve no-such-host.invalid"), std::string::npos) << error;
}

TEST_F(ResolverTest, DestroyingTheResolverCancelsCallbacks) {
  bool called = false;
  {
    Resolver r(loop_);
    r.resolve("localhost", 1, [&](std::vector<protocol::Endpoint>, const std::string&) {
      called = true;
    });
  }
  runUntil([] { return false; }, std::chrono::milliseconds(200));
  EXPECT_FALSE(called);
}

TEST(Interfaces, SkipsLoopbackAndExcludedInterfaces) {
  auto all = interfaceAddresses({});
  for (const auto& a : all) {
    EXPECT_FALSE(a.isLoopback()) << a.toString();
    EXPECT_FALSE(a.isV6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80)
        << a.toString();
  }
  // Excluding every interface by name leaves nothing; names come from /sys.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net")) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_TRUE(interfaceAddresses(names).empty());
}

}  // namespace
}  // namespace vpn::net::test
