#include "config/text_util.hpp"

namespace vpn::config::detail {

std::string showValue(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr std::size_t kMaxShown = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < v.size() && i < kMaxShown; ++i) {
    auto u = static_cast<unsigned char>(v[i]);
    if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += v[i];
    }
  }
  if (v.size() > kMaxShown) {
    out += "...";
  }
  out += "'";
  return out;
}

std::string joinList(std::span<const std::string_view> items) {
  std::string out;
  for (std::string_view s : items) {
    out += out.empty() ? "" : ", ";
    out += s;
  }
  return out;
}

bool contains(std::span<const std::string_view> list, std::string_view v) {
  for (std::string_view s : list) {
    if (s == v) {
      return true;
    }
  }
  return false;
}

bool isOnlyDigits(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace vpn::config::detail
