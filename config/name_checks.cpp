// Names in the peer file: certificate names and fingerprints (declared in peer_config.hpp) and
// the TUN interface name.
#include "config/name_checks.hpp"

#include "config/peer_config.hpp"

namespace vpn::config {

std::optional<std::string> normalizeFingerprint(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ':' && i % 3 == 2) {
      continue;  // "ab:cd:..." pairs
    }
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
    out += c;
  }
  if (out.size() != 64 || (text.size() != 64 && text.size() != 95)) {
    return std::nullopt;
  }
  return out;
}

bool isValidPeerName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) {
    return false;
  }
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

namespace detail {

namespace {
constexpr std::size_t kMaxTunName = 15;  // IFNAMSIZ - 1
}  // namespace

std::string tunNameProblem(std::string_view n) {
  if (n.empty()) {
    return " is empty; give an interface name such as \"vpn0\"";
  }
  if (n.size() > kMaxTunName) {
    return " is " + std::to_string(n.size()) + " characters long; interface names have at most " +
           std::to_string(kMaxTunName);
  }
  if (n == "." || n == "..") {
    return " is not allowed as an interface name";
  }
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return " contains characters other than A-Z, a-z, 0-9, '_', '.' and '-'";
    }
  }
  return {};
}

}  // namespace detail

}  // namespace vpn::config
