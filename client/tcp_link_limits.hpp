#pragma once
// The bounds of the daemon's TCP edge (TcpLinks) and what it counts against them; plain values,
// so status rendering needs no libuv.
#include <cstddef>
#include <cstdint>

#include "base/time.hpp"

namespace vpn::client {

struct TcpLinkLimits {
  Duration idle_timeout = seconds(90);     // no datagram at all
  Duration unused_timeout = seconds(15);   // accepted, and no session or handshake uses it
  std::size_t max_links = 256;             // all connections, ours and accepted
  std::size_t max_per_source = 8;          // accepted from one IPv4 address or IPv6 /64
  std::size_t accepted_send_limit = 1024 * 1024;
};

struct TcpLinkCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;             // over max_links
  std::uint64_t refused_per_source = 0;  // over max_per_source
  std::uint64_t idle_closed = 0;
  std::uint64_t unused_closed = 0;
  std::uint64_t refused_sends = 0;       // a send() the connection's queue refused
};

}  // namespace vpn::client
