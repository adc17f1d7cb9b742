#include <charconv>

#include "config/peer_config.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::config {
namespace {

// RFC 1123 host names: labels of letters, digits and hyphens, not starting or ending with '-'.
bool isHostName(std::string_view h) {
  if (h.empty() || h.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  char prev = '.';
  for (char c : h) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || prev == '-') {
        return false;
      }
      label = 0;
    } else if (alnum || (c == '-' && label != 0)) {
      if (++label > 63) {
        return false;
      }
    } else {
      return false;
    }
    prev = c;
  }
  return label != 0 && prev != '-';
}

}  // namespace

std::string RendezvousEntry::toString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::optional<RendezvousEntry> parseHostPort(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto a = protocol::IpAddress::parse(host);
    if (!a || !a->isV6()) {
      return std::nullopt;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!protocol::IpAddress::parse(host) && !isHostName(host)) {
      return std::nullopt;
    }
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 ||
      p > 65535) {
    return std::nullopt;
  }
  return RendezvousEntry{std::string(host), static_cast<std::uint16_t>(p)};
}

}  // namespace vpn::config
