#include "protocol/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vpn::protocol {

IpAddress IpAddress::v4(std::uint32_t host_order) {
  std::uint8_t b[4] = {static_cast<std::uint8_t>(host_order >> 24),
                       static_cast<std::uint8_t>(host_order >> 16),
                       static_cast<std::uint8_t>(host_order >> 8),
                       static_cast<std::uint8_t>(host_order)};
  return v4(b);
}

IpAddress IpAddress::v4(const std::uint8_t bytes[4]) {
  IpAddress a;
  a.family_ = Family::kV4;
  std::memcpy(a.bytes_.data(), bytes, 4);
  return a;
}

IpAddress IpAddress::v6(const std::uint8_t bytes[16]) {
  IpAddress a;
  a.family_ = Family::kV6;
  std::memcpy(a.bytes_.data(), bytes, 16);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) {
    return std::nullopt;
  }
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::uint8_t out[16];
  if (inet_pton(AF_INET, buf, out) == 1) {
    return v4(out);
  }
  if (inet_pton(AF_INET6, buf, out) == 1) {
    return v6(out);
  }
  return std::nullopt;
}

bool IpAddress::isUnspecified() const {
  for (std::size_t i = 0; i < size(); ++i) {
    if (bytes_[i] != 0) {
      return false;
    }
  }
  return true;
}

bool IpAddress::isLoopback() const {
  if (isV4()) {
    return bytes_[0] == 127;
  }
  for (int i = 0; i < 15; ++i) {
    if (bytes_[static_cast<std::size_t>(i)] != 0) {
      return false;
    }
  }
  return bytes_[15] == 1;
}

bool IpAddress::isRoutableUnicast() const {
  const auto& b = bytes_;
  if (isV4()) {
    return b[0] != 0 && b[0] != 127 && !(b[0] == 169 && b[1] == 254) && b[0] < 224;
  }
  if (isUnspecified() || isLoopback()) {
    return false;
  }
  if (b[0] == 0xFF || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)) {
    return false;
  }
  bool mapped = b[10] == 0xFF && b[11] == 0xFF;
  for (std::size_t i = 0; mapped && i < 10; ++i) {
    mapped = b[i] == 0;
  }
  return !mapped;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = inet_ntop(isV4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return r != nullptr ? std::string(r) : std::string("?");
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) {
    return std::nullopt;
  }
  unsigned max = addr->isV4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) {
      return std::nullopt;
    }
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || p != digits.data() + digits.size() || len > max) {
      return std::nullopt;
    }
  }
  return IpPrefix(*addr, static_cast<std::uint8_t>(len));
}

IpPrefix IpPrefix::network() const {
  std::uint8_t b[16] = {};
  std::memcpy(b, addr_.bytes(), addr_.size());
  for (std::size_t i = 0; i < addr_.size(); ++i) {
    std::size_t bit = i * 8;
    if (bit >= length_) {
      b[i] = 0;
    } else if (bit + 8 > length_) {
      b[i] = static_cast<std::uint8_t>(b[i] & (0xFFu << (8 - (length_ - bit))));
    }
  }
  return IpPrefix(addr_.isV4() ? IpAddress::v4(b) : IpAddress::v6(b), length_);
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family() != addr_.family()) {
    return false;
  }
  std::size_t full = length_ / 8;
  if (std::memcmp(a.bytes(), addr_.bytes(), full) != 0) {
    return false;
  }
  unsigned rem = length_ % 8;
  if (rem == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rem));
  return (a.bytes()[full] & mask) == (addr_.bytes()[full] & mask);
}

std::string IpPrefix::toString() const {
  return addr_.toString() + "/" + std::to_string(length_);
}

std::optional<HostPortParts> splitHostPort(std::string_view text) {
  HostPortParts parts;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    parts.host = text.substr(1, close - 1);
    parts.bracketed = true;
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return std::nullopt;  // IPv6 must be bracketed
    }
    parts.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535) {
    return std::nullopt;
  }
  parts.port = static_cast<std::uint16_t>(p);
  return parts;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  auto parts = splitHostPort(text);
  if (!parts) {
    return std::nullopt;
  }
  auto addr = IpAddress::parse(parts->host);
  if (!addr || (parts->bracketed && !addr->isV6())) {
    return std::nullopt;
  }
  return Endpoint(*addr, parts->port);
}

std::string Endpoint::toString() const {
  if (addr_.isV6()) {
    return "[" + addr_.toString() + "]:" + std::to_string(port_);
  }
  return addr_.toString() + ":" + std::to_string(port_);
}

std::size_t IpAddressHash::operator()(const IpAddress& a) const noexcept {
  // FNV-1a over the meaningful bytes; overlay and underlay tables are small.
  std::size_t h = 1469598103934665603ull ^ static_cast<std::size_t>(a.family());
  for (std::size_t i = 0; i < a.size(); ++i) {
    h = (h ^ a.bytes()[i]) * 1099511628211ull;
  }
  return h;
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  return IpAddressHash{}(e.address()) * 31u + e.port();
}

}  // namespace vpn::protocol
