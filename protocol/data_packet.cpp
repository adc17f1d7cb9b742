#include "protocol/data_packet.hpp"

#include <cassert>
#include <limits>

#include "base/byte_io.hpp"

namespace vpn::protocol {
namespace {

std::uint64_t readPacketNumber(ByteReader& r) {
  std::uint64_t n = r.u8();
  n = n << 8 | r.u8();
  return n << 8 | r.u8();
}

}  // namespace

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
  h.counter = readPacketNumber(r);
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
    h.counter = readPacketNumber(r);
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
  w.u8(static_cast<std::uint8_t>(h.counter >> 16));
  w.u8(static_cast<std::uint8_t>(h.counter >> 8));
  w.u8(static_cast<std::uint8_t>(h.counter));
}

std::uint64_t reconstructCounter(std::uint64_t truncated, std::uint64_t expected) {
  constexpr std::uint64_t kWindow = kPacketNumberMask + 1;
  constexpr std::uint64_t kHalf = kWindow / 2;
  const std::uint64_t candidate = (expected & ~kPacketNumberMask) | (truncated & kPacketNumberMask);
  if (expected >= kHalf && candidate <= expected - kHalf &&
      candidate < std::numeric_limits<std::uint64_t>::max() - kWindow) {
    return candidate + kWindow;
  }
  if (candidate > expected + kHalf && candidate >= kWindow) {
    return candidate - kWindow;
  }
  return candidate;
}

}  // namespace vpn::protocol
