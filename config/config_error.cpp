#include "config/config_error.hpp"

namespace vpn::config {

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line) + ':' + std::to_string(column);
  }
  if (!out.empty()) {
    out += ": ";
  }
  if (!key_path.empty()) {
    out += key_path + ": ";
  }
  out += message;
  return out;
}

}  // namespace vpn::config
