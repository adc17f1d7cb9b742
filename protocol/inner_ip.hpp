#pragma once
// Reads the version, source and destination of an inner IPv4 or IPv6 packet (the plaintext that
// crosses the TUN device). Only the fixed header is checked: enough to route and to enforce the
// peer's certified addresses. Never allocates.
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/ip_address.hpp"

namespace vpn::protocol {

struct InnerAddresses {
  IpAddress source;
  IpAddress destination;
};

// nullopt if the packet is not a well-formed IPv4 (>= 20 bytes, IHL >= 5, total length fits) or
// IPv6 (>= 40 bytes, payload length fits) header.
std::optional<InnerAddresses> parseInnerAddresses(std::span<const std::uint8_t> packet);

}  // namespace vpn::protocol
