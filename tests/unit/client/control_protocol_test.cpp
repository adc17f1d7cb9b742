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

TEST(ControlProtocol, CommandNames) {
  EXPECT_EQ(commandFromName("status"), ControlCommand::kStatus);
  EXPECT_EQ(commandFromName("down"), ControlCommand::kDown);
  EXPECT_EQ(commandFromName("explain"), ControlCommand::kExplain);
  EXPECT_FALSE(commandFromName("Explain"));
  EXPECT_FALSE(commandFromName(""));
  EXPECT_FALSE(commandFromName("explain bob"));
  EXPECT_EQ(kKnownCommands, "status, down, explain");
}

TEST(ControlProtocol, ExplainRequestRoundTrip) {
  auto line = formatRequest("explain", formatExplainArgument("bob", true));
  EXPECT_EQ(line, "VPNPEER/1 explain bob json\n");
  auto r = parseRequest(line);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, "explain");
  std::string error;
  auto a = parseExplainArgument(r->argument, error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->peer, "bob");
  EXPECT_TRUE(a->json);

  EXPECT_EQ(formatRequest("explain", formatExplainArgument("bob", false)),
            "VPNPEER/1 explain bob\n");
  auto text = parseExplainArgument("bob", error);
  ASSERT_TRUE(text);
  EXPECT_FALSE(text->json);
  auto explicit_text = parseExplainArgument("bob text", error);
  ASSERT_TRUE(explicit_text);
  EXPECT_FALSE(explicit_text->json);
}

TEST(ControlProtocol, ExplainArgumentErrors) {
  std::string error;
  EXPECT_FALSE(parseExplainArgument("", error));
  EXPECT_NE(error.find("needs a peer name"), std::string::npos) << error;
  EXPECT_FALSE(parseExplainArgument(" json", error));
  EXPECT_FALSE(parseExplainArgument("bob yaml", error));
  EXPECT_NE(error.find("not 'yaml'"), std::string::npos) << error;
  EXPECT_FALSE(parseExplainArgument("bob json extra", error));
  EXPECT_FALSE(parseExplainArgument("bob ", error));
}

TEST(ControlProtocol, ErrorSentenceStaysOneLine) {
  auto r = errorResponse("no peer named 'a\nVPNPEER/1 OK'");
  EXPECT_EQ(r, "VPNPEER/1 ERR no peer named 'a?VPNPEER/1 OK'\n");
  auto parsed = parseResponse(r);
  EXPECT_FALSE(parsed.ok);
}

}  // namespace
}  // namespace vpn::client
