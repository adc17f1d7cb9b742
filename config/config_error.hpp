#pragma once
// ConfigError: one problem found in a peer file, with where it is (file:line:col, 1-based; 0 when
// the problem has no position, e.g. the file cannot be read) and which key it concerns
// ("peers[0].endpoint"; empty when no key applies). Plain value type; thread-compatible.
#include <string>

namespace vpn::config {

struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;
  std::string message;

  // "alice.toml:3:1: peer.adress: unknown key (did you mean 'address'?)". The ":line:col" part is
  // left out when line is 0, and the "key_path: " part when key_path is empty.
  std::string toString() const;

  friend bool operator==(const ConfigError&, const ConfigError&) = default;
};

}  // namespace vpn::config
