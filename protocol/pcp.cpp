#include "protocol/pcp.hpp"

#include <algorithm>

#include "base/byte_io.hpp"

namespace vpn::protocol {

namespace {

constexpr std::uint8_t kResponseBit = 0x80;
constexpr std::size_t kHeaderSize = 24;

// IPv4 as the IPv4-mapped IPv6 address RFC 6887 section 5 asks for; IPv6 as is.
void writeAddress(ByteWriter& w, const IpAddress& a) {
  if (a.isV4()) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    w.bytes(kMapped);
  }
  w.bytes(std::span<const std::uint8_t>(a.bytes(), a.size()));
}

IpAddress readAddress(ByteReader& r) {
  auto b = r.bytes(16);
  if (b.size() != 16) {
    return {};
  }
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::equal(b.begin(), b.begin() + 12, std::begin(kMapped))) {
    return IpAddress::v4(b.data() + 12);
  }
  return IpAddress::v6(b.data());
}

}  // namespace

const char* toString(PcpResult r) {
  switch (r) {
    case PcpResult::kSuccess:
      return "success";
    case PcpResult::kUnsupportedVersion:
      return "unsupported version";
    case PcpResult::kNotAuthorized:
      return "not authorized";
    case PcpResult::kMalformedRequest:
      return "malformed request";
    case PcpResult::kUnsupportedOpcode:
      return "unsupported opcode";
    case PcpResult::kUnsupportedOption:
      return "unsupported option";
    case PcpResult::kMalformedOption:
      return "malformed option";
    case PcpResult::kNetworkFailure:
      return "network failure";
    case PcpResult::kNoResources:
      return "no resources";
    case PcpResult::kUnsupportedProtocol:
      return "unsupported protocol";
    case PcpResult::kUserExceededQuota:
      return "user exceeded quota";
    case PcpResult::kCannotProvideExternal:
      return "cannot provide external";
    case PcpResult::kAddressMismatch:
      return "address mismatch";
    case PcpResult::kExcessiveRemotePeers:
      return "excessive remote peers";
  }
  return "unknown result";
}

bool pcpResultIsTransient(PcpResult r) {
  switch (r) {
    case PcpResult::kNetworkFailure:
    case PcpResult::kNoResources:
    case PcpResult::kUserExceededQuota:
    case PcpResult::kCannotProvideExternal:
      return true;
    default:
      return false;
  }
}

std::size_t buildPcpMap(const PcpMapRequest& req, std::span<std::uint8_t> out) {
  if (out.size() < kPcpMapSize || req.internal_port == 0) {
    return 0;
  }
  ByteWriter w(out.first(kPcpMapSize));
  w.u8(kPcpVersion);
  w.u8(kPcpOpcodeMap);
  w.u16(0);
  w.u32(req.lifetime);
  writeAddress(w, req.client);
  w.bytes(req.nonce);
  w.u8(kPcpProtocolUdp);
  w.u8(0);
  w.u16(0);
  w.u16(req.internal_port);
  w.u16(req.suggested_port);
  // Any external address of the client's family (RFC 6887 section 11.1): ::ffff:0.0.0.0 or ::.
  static constexpr std::uint8_t kAny6[16] = {};
  writeAddress(w, req.client.isV4() ? IpAddress::v4(0u) : IpAddress::v6(kAny6));
  return w.ok() ? kPcpMapSize : 0;
}

PcpParse parsePcpMapResponse(std::span<const std::uint8_t> d, PcpMapResponse& out) {
  if (d.size() < 4) {
    return PcpParse::kMalformed;
  }
  if (d[0] == 0) {
    // NAT-PMP's header: version 0, 128 + opcode, 16-bit result.
    return (d[1] & kResponseBit) != 0 ? PcpParse::kNatPmpServer : PcpParse::kNotMapResponse;
  }
  if (d[0] != kPcpVersion || d[1] != (kResponseBit | kPcpOpcodeMap)) {
    return PcpParse::kNotMapResponse;
  }
  if (d.size() < kPcpMapSize || d.size() > kPcpMaxSize || d.size() % 4 != 0) {
    return PcpParse::kMalformed;
  }
  ByteReader r(d);
  r.u16();
  r.u8();
  out.result = static_cast<PcpResult>(r.u8());
  out.lifetime = r.u32();
  out.epoch = r.u32();
  r.bytes(12);
  auto nonce = r.bytes(out.nonce.size());
  if (nonce.size() == out.nonce.size()) {
    std::copy(nonce.begin(), nonce.end(), out.nonce.begin());
  }
  out.protocol = r.u8();
  r.bytes(3);
  out.internal_port = r.u16();
  std::uint16_t port = r.u16();
  IpAddress addr = readAddress(r);
  out.external = Endpoint(addr, port);
  // Options may follow (none of ours is understood, and a response needs none).
  static_assert(kHeaderSize + 36 == kPcpMapSize);
  return r.ok() ? PcpParse::kOk : PcpParse::kMalformed;
}

}  // namespace vpn::protocol
