#include "protocol/handshake_packet.hpp"

#include <algorithm>

#include "base/byte_io.hpp"

namespace vpn::protocol {

std::uint32_t HandshakePacket::ack(std::size_t i) const {
  ByteReader r(acks_raw.subspan(i * 4, 4));
  return r.u32();
}

Result<HandshakePacket, ParseError> parseHandshake(std::span<const std::uint8_t> datagram) {
  if (datagram.size() < kHandshakeFixedSize) {
    return err(ParseError::kTruncated);
  }
  ByteReader r(datagram);
  if (r.u8() != kTypeHandshake) {
    return err(ParseError::kBadType);
  }
  if (r.u8() != kHandshakeVersion) {
    return err(ParseError::kBadVersion);
  }
  HandshakePacket p;
  p.flags = r.u8();
  std::size_t nacks = r.u8();
  p.wire_size = datagram.size();
  if ((p.flags & ~(kFlagPayload | kFlagHello | kFlagKick | kFlagCookie | kFlagPadded)) != 0) {
    return err(ParseError::kBadField);
  }
  if (nacks > kMaxAcksPerPacket) {
    return err(ParseError::kBadLength);
  }
  p.sender_index = r.u32();
  p.receiver_index = r.u32();
  if (p.sender_index == 0) {
    return err(ParseError::kBadField);
  }
  if (p.hasPayload()) {
    p.packet_id = r.u32();
    if (r.ok() && p.packet_id == 0) {
      return err(ParseError::kBadField);
    }
  }
  p.acks_raw = r.bytes(nacks * 4);
  if (p.hasHello()) {
    std::size_t len = r.u8();
    auto name = r.bytes(len);
    if (r.ok() && (len == 0 || len > kMaxNameLength)) {
      return err(ParseError::kBadLength);
    }
    p.name = std::string_view(reinterpret_cast<const char*>(name.data()), name.size());
  }
  if (p.hasCookie()) {
    p.cookie = r.bytes(kCookieSize);
  }
  if ((p.flags & kFlagPadded) != 0) {
    std::size_t pad = r.u16();
    for (std::uint8_t b : r.bytes(pad)) {
      if (b != 0) {
        return err(ParseError::kBadField);
      }
    }
  }
  if (!r.ok()) {
    return err(ParseError::kTruncated);
  }
  if (p.hasPayload()) {
    p.payload = r.rest();
    if (p.payload.empty() || p.payload.size() > kMaxHandshakePayload) {
      return err(ParseError::kBadLength);
    }
  } else if (r.remaining() != 0) {
    return err(ParseError::kBadLength);
  }
  return p;
}

std::size_t serializeHandshake(const HandshakePacket& p, std::span<const std::uint32_t> acks,
                               std::span<std::uint8_t> out) {
  if (acks.size() > kMaxAcksPerPacket || p.sender_index == 0) {
    return 0;
  }
  if (p.hasHello() && (p.name.empty() || p.name.size() > kMaxNameLength)) {
    return 0;
  }
  if (p.hasPayload() &&
      (p.payload.empty() || p.payload.size() > kMaxHandshakePayload || p.packet_id == 0)) {
    return 0;
  }
  if (p.hasCookie() && p.cookie.size() != kCookieSize) {
    return 0;
  }
  ByteWriter w(out);
  w.u8(kTypeHandshake);
  w.u8(kHandshakeVersion);
  w.u8(p.flags);
  w.u8(static_cast<std::uint8_t>(acks.size()));
  w.u32(p.sender_index);
  w.u32(p.receiver_index);
  if (p.hasPayload()) {
    w.u32(p.packet_id);
  }
  for (auto a : acks) {
    w.u32(a);
  }
  if (p.hasHello()) {
    w.u8(static_cast<std::uint8_t>(p.name.size()));
    w.bytes({reinterpret_cast<const std::uint8_t*>(p.name.data()), p.name.size()});
  }
  if (p.hasCookie()) {
    w.bytes(p.cookie);
  }
  if ((p.flags & kFlagPadded) != 0) {
    std::size_t unpadded = w.size() + 2 + (p.hasPayload() ? p.payload.size() : 0);
    std::size_t pad = p.wire_size > unpadded ? p.wire_size - unpadded : 0;
    if (pad > 0xFFFF) {
      return 0;
    }
    w.u16(static_cast<std::uint16_t>(pad));
    w.zeros(pad);
  }
  if (p.hasPayload()) {
    w.bytes(p.payload);
  }
  return w.ok() ? w.size() : 0;
}

Result<CookieReply, ParseError> parseCookieReply(std::span<const std::uint8_t> datagram) {
  if (datagram.size() != kCookieReplySize) {
    return err(datagram.size() < kCookieReplySize ? ParseError::kTruncated
                                                  : ParseError::kBadLength);
  }
  ByteReader r(datagram);
  if (r.u8() != kTypeCookieReply) {
    return err(ParseError::kBadType);
  }
  if (r.u8() != kHandshakeVersion) {
    return err(ParseError::kBadVersion);
  }
  if (r.u16() != 0) {
    return err(ParseError::kBadField);
  }
  CookieReply c;
  c.receiver_index = r.u32();
  if (c.receiver_index == 0) {
    return err(ParseError::kBadField);
  }
  auto cookie = r.bytes(kCookieSize);
  std::copy(cookie.begin(), cookie.end(), c.cookie.begin());
  return c;
}

std::size_t serializeCookieReply(const CookieReply& c, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  w.u8(kTypeCookieReply);
  w.u8(kHandshakeVersion);
  w.u16(0);
  w.u32(c.receiver_index);
  w.bytes(c.cookie);
  return w.ok() ? w.size() : 0;
}

}  // namespace vpn::protocol
