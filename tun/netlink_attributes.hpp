#pragma once
// rtnetlink reading helpers shared by netlink_events.cpp and netlink_message.cpp (private to
// vpn::tun): alignment, unaligned struct reads and the bounds-checked attribute walk. Pure
// functions on caller memory; never throw.
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace vpn::tun::netlink::detail {

constexpr std::size_t align4(std::size_t n) { return (n + 3u) & ~std::size_t{3}; }

// Copies a struct out of the bytes at `offset`: the buffer may not be aligned for T. The caller
// checked the size.
template <typename T>
T readStruct(std::span<const std::uint8_t> bytes, std::size_t offset = 0) {
  T v{};
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

// Calls f(type, data) for each attribute in `attrs`; false if one is shorter than its header or
// runs past the end, or f returned false. The last attribute may omit its alignment padding.
template <typename F>
bool forEachAttribute(std::span<const std::uint8_t> attrs, F&& f) {
  std::size_t pos = 0;
  while (pos < attrs.size()) {
    auto rest = attrs.subspan(pos);
    if (rest.size() < sizeof(rtattr)) {
      return false;
    }
    auto a = readStruct<rtattr>(rest);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > rest.size()) {
      return false;
    }
    if (!f(a.rta_type, rest.subspan(sizeof(rtattr), a.rta_len - sizeof(rtattr)))) {
      return false;
    }
    pos += align4(a.rta_len);
  }
  return true;
}

// Attributes follow the fixed header at its aligned size; a payload that ends inside the
// padding simply has no attributes.
inline std::span<const std::uint8_t> attributesAfter(std::span<const std::uint8_t> payload,
                                                     std::size_t header) {
  std::size_t start = align4(header);
  return start >= payload.size() ? std::span<const std::uint8_t>() : payload.subspan(start);
}

inline std::optional<std::uint32_t> readU32(std::span<const std::uint8_t> data) {
  if (data.size() != sizeof(std::uint32_t)) {
    return std::nullopt;
  }
  return readStruct<std::uint32_t>(data);
}

}  // namespace vpn::tun::netlink::detail
