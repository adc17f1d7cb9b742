#include "protocol/punch_packet.hpp"

#include <algorithm>

#include "base/byte_io.hpp"
#include "protocol/packet_type.hpp"

namespace vpn::protocol {

std::optional<ProbePacket> parseProbe(std::span<const std::uint8_t> datagram) {
  if (datagram.size() != kProbeSize) {
    return std::nullopt;
  }
  ByteReader r(datagram);
  std::uint8_t type = r.u8();
  if (type != kTypeProbe && type != kTypeProbeReply) {
    return std::nullopt;
  }
  ProbePacket p;
  p.reply = type == kTypeProbeReply;
  p.intro_id = r.u64();
  p.sequence = r.u32();
  auto tag = r.bytes(kProbeTagSize);
  if (!r.ok()) {
    return std::nullopt;
  }
  std::copy(tag.begin(), tag.end(), p.tag.begin());
  return p;
}

void writeProbe(const ProbePacket& p, std::span<std::uint8_t, kProbeSize> out) {
  ByteWriter w(out);
  w.u8(p.reply ? kTypeProbeReply : kTypeProbe);
  w.u64(p.intro_id);
  w.u32(p.sequence);
  w.bytes(p.tag);
}

}  // namespace vpn::protocol
