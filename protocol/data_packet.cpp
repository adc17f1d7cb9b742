#include "protocol/data_packet.hpp"

#include <cassert>

#include "base/byte_io.hpp"

namespace vpn::protocol {

std::optional<DataHeader> parseDataHeader(std::span<const std::uint8_t> datagram) {
  if (datagram.size() < kDataOverhead) {
    return std::nullopt;
  }
  auto family = classify(datagram);
  if (family != PacketFamily::kData && family != PacketFamily::kKeepalive) {
    return std::nullopt;
  }
  ByteReader r(datagram);
  DataHeader h;
  std::uint8_t type = r.u8();
  h.keepalive = family == PacketFamily::kKeepalive;
  h.key_phase = type & 1u;
  h.receiver_index = r.u32();
  h.counter = r.u64();
  if (h.keepalive && datagram.size() > kDataOverhead + kMaxKeepalivePayload) {
    return std::nullopt;
  }
  return h;
}

std::optional<DataHeader> parseSealedHeader(std::span<const std::uint8_t> datagram) {
  if (datagram.size() >= kDataOverhead && (datagram[0] & 0xFE) == kTypeControl) {
    if (datagram.size() > kDataOverhead + kMaxControlPayload) {
      return std::nullopt;
    }
    ByteReader r(datagram);
    DataHeader h;
    h.control = true;
    h.key_phase = r.u8() & 1u;
    h.receiver_index = r.u32();
    h.counter = r.u64();
    return h;
  }
  return parseDataHeader(datagram);
}

void writeDataHeader(const DataHeader& h, std::span<std::uint8_t> out) {
  assert(out.size() >= kDataHeaderSize);
  ByteWriter w(out.first(kDataHeaderSize));
  std::uint8_t type = h.control ? kTypeControl : (h.keepalive ? kTypeKeepalive : kTypeData);
  w.u8(static_cast<std::uint8_t>(type | (h.key_phase & 1u)));
  w.u32(h.receiver_index);
  w.u64(h.counter);
}

}  // namespace vpn::protocol
