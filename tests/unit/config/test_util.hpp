#pragma once
// Shared helpers for the config tests.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"

namespace vpn::config::test {

// A complete, valid peer file of 7 lines; tests append sections from line 8 on.
inline constexpr std::string_view kBase =
    "[peer]\n"                     // 1
    "name = \"alice\"\n"           // 2
    "address = \"10.42.0.1/24\"\n" // 3
    "listen = \"0.0.0.0:51820\"\n" // 4
    "ca = \"ca.crt\"\n"            // 5
    "cert = \"alice.crt\"\n"       // 6
    "key = \"alice.key\"\n";       // 7

inline std::string withBase(std::string_view rest) {
  return std::string(kBase) + std::string(rest);
}

// The errors for `text` (parsed as "alice.toml"), as toString() lines; empty if it parsed.
inline std::vector<std::string> errorLines(std::string_view text) {
  auto r = parsePeerConfig(text, "alice.toml");
  std::vector<std::string> out;
  if (!r.ok()) {
    for (const auto& e : r.error()) {
      out.push_back(e.toString());
    }
  }
  return out;
}

}  // namespace vpn::config::test
