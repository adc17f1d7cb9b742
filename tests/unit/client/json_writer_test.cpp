#include "client/json_writer.hpp"

#include <gtest/gtest.h>

namespace vpn::client {
namespace {

TEST(JsonWriter, NestsAndSeparates) {
  JsonWriter w;
  w.beginObject();
  w.key("a").value(1);
  w.key("b").beginArray().value("x").value(true).null().endArray();
  w.key("c").beginObject().endObject();
  w.key("d").value(std::uint64_t{18446744073709551615ull});
  w.endObject();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",true,null],"c":{},"d":18446744073709551615})");
}

TEST(JsonWriter, EscapesStrings) {
  JsonWriter w;
  w.value(std::string_view("q\"b\\n\n\x01"));
  EXPECT_EQ(w.str(), R"("q\"b\\n\n\u0001")");
}

TEST(JsonWriter, NonFiniteNumbersBecomeNull) {
  JsonWriter w;
  w.beginArray().value(1.5).value(1.0 / 0.0).endArray();
  EXPECT_EQ(w.str(), "[1.500,null]");
}

}  // namespace
}  // namespace vpn::client
