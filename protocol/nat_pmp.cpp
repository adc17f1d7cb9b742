#include "protocol/nat_pmp.hpp"

#include "base/byte_io.hpp"

namespace vpn::protocol {

namespace {
constexpr std::uint8_t kResponseBit = 0x80;
constexpr std::size_t kErrorSize = 8;  // version, opcode, result, epoch
constexpr std::size_t kAddressAnswerSize = 12;
constexpr std::size_t kMapAnswerSize = 16;
}  // namespace

const char* toString(NatPmpResult r) {
  switch (r) {
    case NatPmpResult::kSuccess:
      return "success";
    case NatPmpResult::kUnsupportedVersion:
      return "unsupported version";
    case NatPmpResult::kRefused:
      return "refused (not authorized)";
    case NatPmpResult::kNetworkFailure:
      return "network failure";
    case NatPmpResult::kNoResources:
      return "out of resources";
    case NatPmpResult::kUnsupportedOpcode:
      return "unsupported opcode";
  }
  return "unknown result";
}

std::size_t buildNatPmpAddressRequest(std::span<std::uint8_t> out) {
  if (out.size() < kNatPmpAddressRequestSize) {
    return 0;
  }
  out[0] = 0;
  out[1] = kNatPmpOpAddress;
  return kNatPmpAddressRequestSize;
}

std::size_t buildNatPmpMapRequest(std::uint16_t internal_port, std::uint16_t suggested_port,
                                  std::uint32_t lifetime, std::span<std::uint8_t> out) {
  if (out.size() < kNatPmpMapRequestSize || internal_port == 0) {
    return 0;
  }
  ByteWriter w(out.first(kNatPmpMapRequestSize));
  w.u8(0);
  w.u8(kNatPmpOpMapUdp);
  w.u16(0);
  w.u16(internal_port);
  w.u16(suggested_port);
  w.u32(lifetime);
  return w.ok() ? kNatPmpMapRequestSize : 0;
}

bool parseNatPmpResponse(std::span<const std::uint8_t> d, NatPmpResponse& out) {
  if (d.size() < kErrorSize || d[0] != 0 || (d[1] & kResponseBit) == 0) {
    return false;
  }
  out.opcode = static_cast<std::uint8_t>(d[1] & ~kResponseBit);
  if (out.opcode != kNatPmpOpAddress && out.opcode != kNatPmpOpMapUdp) {
    return false;
  }
  ByteReader r(d);
  r.u16();
  out.result = static_cast<NatPmpResult>(r.u16());
  out.epoch = r.u32();
  if (out.result != NatPmpResult::kSuccess) {
    return true;  // the rest may be absent on an error
  }
  if (out.opcode == kNatPmpOpAddress) {
    if (d.size() < kAddressAnswerSize) {
      return false;
    }
    auto a = r.bytes(4);
    out.external = IpAddress::v4(a.data());
    return r.ok();
  }
  if (d.size() < kMapAnswerSize) {
    return false;
  }
  out.internal_port = r.u16();
  out.external_port = r.u16();
  out.lifetime = r.u32();
  return r.ok();
}

}  // namespace vpn::protocol
