#include "client/control_protocol.hpp"

#include <gtest/gtest.h>

namespace vpn::client {
namespace {

TEST(ControlProtocol, RequestRoundTrip) {
  auto line = formatRequest("status", "json");
  EXPECT_EQ(line, "VPNPEER/1 status json\n");
  auto r = parseRequest(line);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, "status");
  EXPECT_EQ(r->argument, "json");
  auto d = parseRequest(formatRequest("down"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->command, "down");
  EXPECT_EQ(d->argument, "");
}

TEST(ControlProtocol, RejectsOtherVersionsAndGarbage) {
  for (const char* s : {"", "\n", "VPNPEER/2 status\n", "VPNPEER/1\n", "VPNPEER/1 \n",
                        "VPNPEER/1status\n", "GET / HTTP/1.1\r\n"}) {
    EXPECT_FALSE(parseRequest(s)) << s;
  }
}

TEST(ControlProtocol, ResponsesCarryBodyOrSentence) {
  auto ok = parseResponse(okResponse("body\nline2\n"));
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.body, "body\nline2\n");
  auto bad = parseResponse(errorResponse("no such peer"));
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.body, "no such peer");
  auto alien = parseResponse("VPNPEER/9 OK\nx");
  EXPECT_FALSE(alien.ok);
  EXPECT_NE(alien.body.find("protocol version"), std::string::npos);
}

}  // namespace
}  // namespace vpn::client
