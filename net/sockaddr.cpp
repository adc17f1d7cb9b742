#include "net/sockaddr.hpp"

#include <cstring>

namespace vpn::net {

socklen_t toSockaddr(const protocol::Endpoint& ep, sockaddr_storage& out, bool as_v6) {
  std::memset(&out, 0, sizeof out);
  const auto& a = ep.address();
  if (a.isV4() && !as_v6) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port());
    std::memcpy(&sin->sin_addr, a.bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port());
  if (a.isV4()) {
    std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(mapped + 12, a.bytes(), 4);
    std::memcpy(&sin6->sin6_addr, mapped, 16);
  } else {
    std::memcpy(&sin6->sin6_addr, a.bytes(), 16);
  }
  return sizeof(sockaddr_in6);
}

std::optional<protocol::Endpoint> fromSockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) {
    return std::nullopt;
  }
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in sin{};
    std::memcpy(&sin, sa, sizeof sin);
    std::uint8_t b[4];
    std::memcpy(b, &sin.sin_addr, 4);
    return protocol::Endpoint(protocol::IpAddress::v4(b), ntohs(sin.sin_port));
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, sa, sizeof sin6);
    std::uint8_t b[16];
    std::memcpy(b, &sin6.sin6_addr, 16);
    static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMappedPrefix, 12) == 0) {
      return protocol::Endpoint(protocol::IpAddress::v4(b + 12), ntohs(sin6.sin6_port));
    }
    return protocol::Endpoint(protocol::IpAddress::v6(b), ntohs(sin6.sin6_port));
  }
  return std::nullopt;
}

}  // namespace vpn::net
