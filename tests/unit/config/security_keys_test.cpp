// peer.network_key (docs/hardening.md, "Network key"): absent, "ca", or a key file resolved
// like the other paths; an empty value and a wrong type are errors. And peer.user, who `up` runs
// as after start. Lines 1-7 are kBase.
#include <gtest/gtest.h>

#include "tests/unit/config/test_util.hpp"

namespace vpn::config::test {
namespace {

using Lines = std::vector<std::string>;

TEST(NetworkKeySetting, AbsentByDefault) {
  auto r = parsePeerConfig(kBase, "/etc/vpnpeer/alice.toml");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->network_key);
}

TEST(NetworkKeySetting, CaOrAFileResolvedAgainstThePeerFile) {
  auto ca = parsePeerConfig(withBase("network_key = \"ca\"\n"), "/etc/vpnpeer/alice.toml");
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(ca->network_key);
  EXPECT_TRUE(ca->network_key->from_ca);
  auto file =
      parsePeerConfig(withBase("network_key = \"network.key\"\n"), "/etc/vpnpeer/alice.toml");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->network_key);
  EXPECT_FALSE(file->network_key->from_ca);
  EXPECT_EQ(file->network_key->file, "/etc/vpnpeer/network.key");
  auto abs = parsePeerConfig(withBase("network_key = \"./ca\"\n"), "/etc/vpnpeer/alice.toml");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(abs->network_key->file, "/etc/vpnpeer/ca");  // "./ca" names a file called ca
}

TEST(NetworkKeySetting, EmptyOrWrongTypeIsAnError) {
  EXPECT_EQ(errorLines(withBase("network_key = \"\"\n")),
            (Lines{"alice.toml:8:15: peer.network_key: must not be empty"}));
  EXPECT_EQ(errorLines(withBase("network_key = true\n")).size(), 1u);
}

TEST(UserSetting, DefaultIsEmptyAndANameIsKept) {
  auto none = parsePeerConfig(kBase, "alice.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->user, "");
  auto named = parsePeerConfig(withBase("user = \"vpnpeer\"\n"), "alice.toml");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->user, "vpnpeer");
  EXPECT_EQ(errorLines(withBase("user = \"\"\n")),
            (Lines{"alice.toml:8:8: peer.user: must be a user name of 1 to 32 characters"}));
}

TEST(MetricsSetting, OffByDefaultAndAnAddressWhenGiven) {
  auto none = parsePeerConfig(kBase, "alice.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->metrics_listen);
  auto on = parsePeerConfig(withBase("\n[metrics]\nlisten = \"127.0.0.1:9478\"\n"), "alice.toml");
  ASSERT_TRUE(on.ok());
  ASSERT_TRUE(on->metrics_listen);
  EXPECT_EQ(on->metrics_listen->toString(), "127.0.0.1:9478");
  EXPECT_EQ(errorLines(withBase("\n[metrics]\nlisten = \"localhost\"\n")).size(), 1u);
  EXPECT_EQ(errorLines(withBase("\n[metrics]\nport = 1\n")).size(), 2u);  // unknown, missing
}

}  // namespace
}  // namespace vpn::config::test
