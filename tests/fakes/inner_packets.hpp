#pragma once
// Builders for inner IPv4/IPv6 packets (UDP payloads) as they would cross a TUN device.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vpn::test {

// Addresses as text ("10.42.0.1", "fd42::1"); throws std::invalid_argument on bad text.
std::vector<std::uint8_t> makeIpv4(std::string_view src, std::string_view dst,
                                   std::span<const std::uint8_t> payload);
std::vector<std::uint8_t> makeIpv6(std::string_view src, std::string_view dst,
                                   std::span<const std::uint8_t> payload);
// A payload carrying a 64-bit sequence number followed by `pad` filler bytes.
std::vector<std::uint8_t> numberedPayload(std::uint64_t seq, std::size_t pad = 32);
// Reads the sequence number back from an inner IPv4 packet made with makeIpv4(numberedPayload).
std::uint64_t sequenceOfIpv4(std::span<const std::uint8_t> packet);

}  // namespace vpn::test
