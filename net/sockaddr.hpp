#pragma once
// Conversions between protocol::Endpoint and BSD socket addresses.
// Pure functions, no allocation, thread-safe.
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>

#include "protocol/ip_address.hpp"

namespace vpn::net {

// Writes ep into out and returns the length to pass to bind/sendto. With as_v6 = true an IPv4
// endpoint becomes the IPv4-mapped IPv6 address ::ffff:a.b.c.d (for dual-stack IPv6 sockets).
socklen_t toSockaddr(const protocol::Endpoint& ep, sockaddr_storage& out, bool as_v6 = false);

// Reads an AF_INET or AF_INET6 address. IPv4-mapped IPv6 addresses come back as IPv4 endpoints.
// nullopt for other families or a too-short length.
std::optional<protocol::Endpoint> fromSockaddr(const sockaddr* sa, socklen_t len);
inline std::optional<protocol::Endpoint> fromSockaddr(const sockaddr_storage& ss, socklen_t len) {
  return fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

}  // namespace vpn::net
