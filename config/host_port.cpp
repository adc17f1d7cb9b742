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

std::string joinHostPort(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

}  // namespace

std::string RendezvousEntry::toString() const {
  return joinHostPort(host, port);
}

std::string RendezvousEntry::tcpToString() const {
  return tcp_host ? joinHostPort(*tcp_host, tcp_port) : std::string();
}

std::optional<RendezvousEntry> parseHostPort(std::string_view text) {
  auto parts = protocol::splitHostPort(text);
  if (!parts || parts->port == 0) {
    return std::nullopt;
  }
  auto addr = protocol::IpAddress::parse(parts->host);
  if (parts->bracketed ? (!addr || !addr->isV6()) : (!addr && !isHostName(parts->host))) {
    return std::nullopt;
  }
  RendezvousEntry out;
  out.host = std::string(parts->host);
  out.port = parts->port;
  return out;
}

}  // namespace vpn::config
