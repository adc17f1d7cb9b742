#include "protocol/inner_ip.hpp"

namespace vpn::protocol {

std::optional<InnerAddresses> parseInnerAddresses(std::span<const std::uint8_t> p) {
  if (p.empty()) {
    return std::nullopt;
  }
  unsigned version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20) {
      return std::nullopt;
    }
    std::size_t ihl = (p[0] & 0x0Fu) * 4u;
    std::size_t total = (std::size_t{p[2]} << 8) | p[3];
    if (ihl < 20 || total < ihl || total > p.size()) {
      return std::nullopt;
    }
    return InnerAddresses{IpAddress::v4(p.data() + 12), IpAddress::v4(p.data() + 16)};
  }
  if (version == 6) {
    if (p.size() < 40) {
      return std::nullopt;
    }
    std::size_t payload = (std::size_t{p[4]} << 8) | p[5];
    if (40 + payload > p.size()) {
      return std::nullopt;
    }
    return InnerAddresses{IpAddress::v6(p.data() + 8), IpAddress::v6(p.data() + 24)};
  }
  return std::nullopt;
}

}  // namespace vpn::protocol
