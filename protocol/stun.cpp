#include "protocol/stun.hpp"

#include <algorithm>

#include "base/byte_io.hpp"

namespace vpn::protocol {
namespace {

constexpr std::size_t kMaxTextAttribute = 763;  // SOFTWARE and reason phrase limit, RFC 8489

constexpr std::array<std::uint32_t, 256> makeCrcTable() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    }
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = makeCrcTable();

std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

bool cookieOk(std::span<const std::uint8_t> d) {
  return d[4] == 0x21 && d[5] == 0x12 && d[6] == 0xA4 && d[7] == 0x42;
}

// Attribute types we understand or knowingly ignore; anything else below 0x8000 is recorded as
// unknown comprehension-required.
bool knownRequired(std::uint16_t t) {
  switch (t) {
    case kStunAttrMappedAddress:
    case kStunAttrChangeRequest:
    case kStunAttrSourceAddress:
    case kStunAttrChangedAddress:
    case kStunAttrUsername:
    case kStunAttrMessageIntegrity:
    case kStunAttrErrorCode:
    case kStunAttrUnknownAttributes:
    case kStunAttrRealm:
    case kStunAttrNonce:
    case kStunAttrMessageIntegritySha256:
    case kStunAttrUserhash:
    case kStunAttrXorMappedAddress:
    case kStunAttrPadding:
      return true;
    default:
      return false;
  }
}

// Decodes an address attribute value. `xor_key` (cookie | transaction id, 16 bytes) is applied
// when non-null. Returns nullopt on a bad family or a length that does not match it.
std::optional<Endpoint> decodeAddress(std::span<const std::uint8_t> v,
                                      const std::uint8_t* xor_key) {
  ByteReader r(v);
  r.u8();  // reserved; ignored on receipt
  std::uint8_t family = r.u8();
  std::uint16_t port = r.u16();
  if (xor_key != nullptr) {
    port = static_cast<std::uint16_t>(port ^ ((xor_key[0] << 8) | xor_key[1]));
  }
  std::size_t alen = family == 0x01 ? 4 : family == 0x02 ? 16 : 0;
  if (alen == 0 || v.size() != 4 + alen) {
    return std::nullopt;
  }
  auto raw = r.bytes(alen);
  std::uint8_t a[16] = {};
  for (std::size_t i = 0; i < alen; ++i) {
    a[i] = xor_key != nullptr ? static_cast<std::uint8_t>(raw[i] ^ xor_key[i]) : raw[i];
  }
  return Endpoint(alen == 4 ? IpAddress::v4(a) : IpAddress::v6(a), port);
}

void xorKey(const StunTransactionId& id, std::uint8_t out[16]) {
  out[0] = 0x21;
  out[1] = 0x12;
  out[2] = 0xA4;
  out[3] = 0x42;
  for (std::size_t i = 0; i < kStunTransactionIdSize; ++i) {
    out[4 + i] = id[i];
  }
}

void recordType(std::array<std::uint16_t, kStunMaxUnknownRecorded>& list, std::size_t& count,
                std::uint16_t t) {
  if (count < kStunMaxUnknownRecorded) {
    list[count] = t;
  }
  ++count;
}

// Writes the header with a zero length; finish() patches it. `classic_head`: the first 4 bytes
// of an RFC 3489 transaction id, written where the magic cookie goes.
void writeHeader(ByteWriter& w, std::uint16_t type, const StunTransactionId& id,
                 const std::array<std::uint8_t, 4>* classic_head = nullptr) {
  w.u16(type);
  w.u16(0);
  if (classic_head != nullptr) {
    w.bytes(*classic_head);
  } else {
    w.u32(kStunMagicCookie);
  }
  w.bytes(id);
}

void writeAttrHeader(ByteWriter& w, std::uint16_t type, std::size_t len) {
  w.u16(type);
  w.u16(static_cast<std::uint16_t>(len));
}

void writePadding(ByteWriter& w, std::size_t len) {
  for (std::size_t i = len; i < padded(len); ++i) {
    w.u8(0);
  }
}

void writeAddress(ByteWriter& w, std::uint16_t type, const Endpoint& e,
                  const std::uint8_t* xor_key) {
  const IpAddress& a = e.address();
  std::size_t alen = a.size();
  writeAttrHeader(w, type, 4 + alen);
  w.u8(0);
  w.u8(a.isV4() ? 0x01 : 0x02);
  std::uint16_t port = e.port();
  if (xor_key != nullptr) {
    port = static_cast<std::uint16_t>(port ^ ((xor_key[0] << 8) | xor_key[1]));
  }
  w.u16(port);
  for (std::size_t i = 0; i < alen; ++i) {
    w.u8(xor_key != nullptr ? static_cast<std::uint8_t>(a.bytes()[i] ^ xor_key[i])
                            : a.bytes()[i]);
  }
}

void writeText(ByteWriter& w, std::uint16_t type, std::string_view s) {
  writeAttrHeader(w, type, s.size());
  w.bytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()),
                                        s.size()));
  writePadding(w, s.size());
}

void patchLength(std::span<std::uint8_t> out, std::size_t total) {
  std::size_t body = total - kStunHeaderSize;
  out[2] = static_cast<std::uint8_t>(body >> 8);
  out[3] = static_cast<std::uint8_t>(body);
}

// Appends SOFTWARE and FINGERPRINT as asked, fixes the header length, returns the size or 0.
std::size_t finish(ByteWriter& w, std::span<std::uint8_t> out, const StunBuildOptions& opts) {
  if (!opts.software.empty()) {
    writeText(w, kStunAttrSoftware, opts.software);
  }
  if (!w.ok()) {
    return 0;
  }
  if (opts.fingerprint) {
    if (w.remaining() < 8) {
      return 0;
    }
    patchLength(out, w.size() + 8);
    std::uint32_t fp = stunFingerprint(out.first(w.size()));
    writeAttrHeader(w, kStunAttrFingerprint, 4);
    w.u32(fp);
  } else {
    patchLength(out, w.size());
  }
  return w.ok() ? w.size() : 0;
}

bool optionsOk(const StunBuildOptions& opts) {
  return opts.software.size() <= kStunMaxSoftwareSize;
}

std::string_view standardReason(std::uint16_t code) {
  switch (code) {
    case 300: return "Try Alternate";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 420: return "Unknown Attribute";
    case 438: return "Stale Nonce";
    case 500: return "Server Error";
    default: return "Error";
  }
}

std::uint16_t responseType(std::uint16_t request_type, bool error) {
  // Keep the method bits, set the class bits to 10 (success) or 11 (error).
  auto t = static_cast<std::uint16_t>(request_type & ~0x0110);
  return static_cast<std::uint16_t>(t | (error ? 0x0110 : 0x0100));
}

std::size_t buildError(std::uint16_t request_type, const StunTransactionId& id,
                       const std::array<std::uint8_t, 4>* classic_head, std::uint16_t code,
                       std::string_view reason, std::span<const std::uint16_t> unknown,
                       std::span<std::uint8_t> out, StunBuildOptions opts) {
  if (classic_head != nullptr) {
    opts = StunBuildOptions{{}, false};  // RFC 3489 has neither
  }
  if (code < 300 || code > 699 || reason.size() > kStunMaxReasonSize ||
      unknown.size() > kStunMaxUnknownRecorded || !optionsOk(opts)) {
    return 0;
  }
  if (reason.empty()) {
    reason = standardReason(code);
  }
  ByteWriter w(out);
  writeHeader(w, responseType(request_type, true), id, classic_head);
  writeAttrHeader(w, kStunAttrErrorCode, 4 + reason.size());
  w.u16(0);
  w.u8(static_cast<std::uint8_t>(code / 100));
  w.u8(static_cast<std::uint8_t>(code % 100));
  w.bytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(reason.data()),
                                        reason.size()));
  writePadding(w, 4 + reason.size());
  if (code == kStunErrorUnknownAttribute && !unknown.empty()) {
    writeAttrHeader(w, kStunAttrUnknownAttributes, unknown.size() * 2);
    for (std::uint16_t t : unknown) {
      w.u16(t);
    }
    writePadding(w, unknown.size() * 2);
  }
  return finish(w, out, opts);
}

}  // namespace

std::uint32_t crc32(std::span<const std::uint8_t> data) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::uint8_t b : data) {
    c = kCrcTable[(c ^ b) & 0xFFU] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFU;
}

Result<StunHeader, ParseError> parseStunHeader(std::span<const std::uint8_t> datagram,
                                               bool allow_classic) {
  if (datagram.size() < kStunHeaderSize) {
    return err(ParseError::kTruncated);
  }
  if ((datagram[0] & 0xC0) != 0) {
    return err(ParseError::kBadType);
  }
  StunHeader h;
  if (!cookieOk(datagram)) {
    if (!allow_classic) {
      return err(ParseError::kBadVersion);
    }
    h.classic = true;
    std::copy(datagram.begin() + 4, datagram.begin() + 8, h.classic_id_head.begin());
  }
  ByteReader r(datagram);
  h.type = r.u16();
  h.length = r.u16();
  r.u32();
  auto id = r.bytes(kStunTransactionIdSize);
  for (std::size_t i = 0; i < kStunTransactionIdSize; ++i) {
    h.transaction_id[i] = id[i];
  }
  if (h.length % 4 != 0) {
    return err(ParseError::kBadLength);
  }
  if (std::size_t{h.length} > datagram.size() - kStunHeaderSize) {
    return err(ParseError::kTruncated);
  }
  if (std::size_t{h.length} != datagram.size() - kStunHeaderSize) {
    return err(ParseError::kBadLength);
  }
  return h;
}

Result<StunMessage, ParseError> parseStun(std::span<const std::uint8_t> datagram,
                                          bool allow_classic) {
  auto hdr = parseStunHeader(datagram, allow_classic);
  if (!hdr) {
    return err(hdr.error());
  }
  StunMessage m;
  m.type = hdr->type;
  m.transaction_id = hdr->transaction_id;
  m.classic = hdr->classic;
  m.classic_id_head = hdr->classic_id_head;
  std::uint8_t key[16];
  xorKey(m.transaction_id, key);

  ByteReader r(datagram.subspan(kStunHeaderSize));
  bool after_integrity = false;
  bool seen_xor = false, seen_mapped = false, seen_origin = false, seen_other = false;
  bool seen_change = false, seen_error = false, seen_software = false, seen_unknown = false;
  while (r.remaining() > 0) {
    std::size_t attr_offset = kStunHeaderSize + r.position();
    std::uint16_t type = r.u16();
    std::size_t len = r.u16();
    auto v = r.bytes(len);
    r.bytes(padded(len) - len);
    if (!r.ok()) {
      return err(ParseError::kTruncated);
    }
    if (m.has_fingerprint) {
      return err(ParseError::kBadField);  // FINGERPRINT must be last
    }
    if (type == kStunAttrFingerprint) {
      if (len != 4) {
        return err(ParseError::kBadLength);
      }
      ByteReader fr(v);
      if (fr.u32() != stunFingerprint(datagram.first(attr_offset))) {
        return err(ParseError::kBadField);
      }
      m.has_fingerprint = true;
      continue;
    }
    if (after_integrity) {
      continue;  // RFC 8489 §14.5: ignored after MESSAGE-INTEGRITY(-SHA256)
    }
    switch (type) {
      case kStunAttrXorMappedAddress:
      case kStunAttrMappedAddress:
      case kStunAttrResponseOrigin:
      case kStunAttrOtherAddress:
      case kStunAttrSourceAddress:
      case kStunAttrChangedAddress: {
        auto e = decodeAddress(v, type == kStunAttrXorMappedAddress ? key : nullptr);
        if (!e) {
          return err(ParseError::kBadField);
        }
        if (type == kStunAttrXorMappedAddress && !seen_xor) {
          m.xor_mapped = e;
          seen_xor = true;
        } else if (type == kStunAttrMappedAddress && !seen_mapped) {
          m.mapped = e;
          seen_mapped = true;
        } else if (type == kStunAttrResponseOrigin && !seen_origin) {
          m.response_origin = e;  // replaces a SOURCE-ADDRESS seen earlier
          seen_origin = true;
        } else if (type == kStunAttrOtherAddress && !seen_other) {
          m.other_address = e;
          seen_other = true;
        } else if (type == kStunAttrSourceAddress && !m.response_origin) {
          m.response_origin = e;
        } else if (type == kStunAttrChangedAddress && !m.other_address) {
          m.other_address = e;
        }
        break;
      }
      case kStunAttrChangeRequest: {
        if (len != 4) {
          return err(ParseError::kBadLength);
        }
        if (!seen_change) {
          ByteReader cr(v);
          std::uint32_t flags = cr.u32();
          m.has_change_request = true;
          m.change_ip = (flags & kStunChangeIp) != 0;
          m.change_port = (flags & kStunChangePort) != 0;
          seen_change = true;
        }
        break;
      }
      case kStunAttrErrorCode: {
        if (len < 4 || len > 4 + kMaxTextAttribute) {
          return err(ParseError::kBadLength);
        }
        ByteReader er(v);
        er.u16();
        std::uint8_t cls = er.u8() & 0x07;
        std::uint8_t num = er.u8();
        if (cls < 3 || cls > 6 || num > 99) {
          return err(ParseError::kBadField);
        }
        if (!seen_error) {
          auto reason = er.rest();
          m.error = StunErrorCode{static_cast<std::uint16_t>(cls * 100 + num),
                                  std::string_view(reinterpret_cast<const char*>(reason.data()),
                                                   reason.size())};
          seen_error = true;
        }
        break;
      }
      case kStunAttrUnknownAttributes: {
        if (len % 2 != 0) {
          return err(ParseError::kBadLength);
        }
        if (!seen_unknown) {
          ByteReader ur(v);
          while (ur.remaining() >= 2) {
            recordType(m.unknown_attributes, m.unknown_attributes_count, ur.u16());
          }
          seen_unknown = true;
        }
        break;
      }
      case kStunAttrSoftware: {
        if (len > kMaxTextAttribute) {
          return err(ParseError::kBadLength);
        }
        if (!seen_software) {
          m.software = std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
          seen_software = true;
        }
        break;
      }
      case kStunAttrResponsePort: {
        if (len != 4) {
          return err(ParseError::kBadLength);
        }
        if (!m.response_port) {
          ByteReader pr(v);
          m.response_port = pr.u16();
          recordType(m.unknown_required, m.unknown_required_count, type);
        }
        break;
      }
      case kStunAttrMessageIntegrity:
      case kStunAttrMessageIntegritySha256:
        m.has_message_integrity = true;
        after_integrity = true;
        break;
      default:
        if (type < 0x8000 && !knownRequired(type)) {
          recordType(m.unknown_required, m.unknown_required_count, type);
        }
        break;
    }
  }
  return m;
}

std::size_t buildBindingRequest(const BindingRequestParams& p, std::span<std::uint8_t> out,
                                const StunBuildOptions& opts) {
  if (!optionsOk(opts)) {
    return 0;
  }
  ByteWriter w(out);
  writeHeader(w, kStunBindingRequest, p.transaction_id);
  if (p.change_ip || p.change_port) {
    writeAttrHeader(w, kStunAttrChangeRequest, 4);
    w.u32((p.change_ip ? kStunChangeIp : 0U) | (p.change_port ? kStunChangePort : 0U));
  }
  if (p.response_port) {
    writeAttrHeader(w, kStunAttrResponsePort, 4);
    w.u16(*p.response_port);
    w.u16(0);
  }
  // What finish() will add: SOFTWARE (padded to 4) and FINGERPRINT.
  std::size_t tail = (opts.software.empty() ? 0 : 4 + ((opts.software.size() + 3) & ~std::size_t{3})) +
                     (opts.fingerprint ? 8 : 0);
  std::size_t have = w.size() + tail;
  if (p.pad_to > have) {
    std::size_t need = p.pad_to - have;  // the attribute's 4-byte header counts toward it
    std::size_t len = need > 4 ? ((need - 4 + 3) & ~std::size_t{3}) : 0;
    if (len > 0xFFFF) {
      return 0;
    }
    writeAttrHeader(w, kStunAttrPadding, static_cast<std::uint16_t>(len));
    w.zeros(len);
  }
  return finish(w, out, opts);
}

std::size_t buildBindingResponse(const StunMessage& request, const Endpoint& observed_source,
                                 const std::optional<Endpoint>& response_origin,
                                 const std::optional<Endpoint>& other_address,
                                 std::span<std::uint8_t> out, const StunBuildOptions& opts) {
  if (!optionsOk(opts)) {
    return 0;
  }
  if (request.classic) {
    ByteWriter w(out);
    writeHeader(w, responseType(request.type, false), request.transaction_id,
                &request.classic_id_head);
    writeAddress(w, kStunAttrMappedAddress, observed_source, nullptr);
    if (response_origin) {
      writeAddress(w, kStunAttrSourceAddress, *response_origin, nullptr);
    }
    if (other_address) {
      writeAddress(w, kStunAttrChangedAddress, *other_address, nullptr);
    }
    return finish(w, out, StunBuildOptions{{}, false});
  }
  std::uint8_t key[16];
  xorKey(request.transaction_id, key);
  ByteWriter w(out);
  writeHeader(w, responseType(request.type, false), request.transaction_id);
  writeAddress(w, kStunAttrXorMappedAddress, observed_source, key);
  writeAddress(w, kStunAttrMappedAddress, observed_source, nullptr);
  if (response_origin) {
    writeAddress(w, kStunAttrResponseOrigin, *response_origin, nullptr);
  }
  if (other_address) {
    writeAddress(w, kStunAttrOtherAddress, *other_address, nullptr);
  }
  return finish(w, out, opts);
}

std::size_t buildBindingError(const StunMessage& request, std::uint16_t code,
                              std::string_view reason, std::span<const std::uint16_t> unknown,
                              std::span<std::uint8_t> out, const StunBuildOptions& opts) {
  return buildError(request.type, request.transaction_id,
                    request.classic ? &request.classic_id_head : nullptr, code, reason, unknown,
                    out, opts);
}

std::size_t buildBindingErrorFor(const StunHeader& request, std::uint16_t code,
                                 std::string_view reason, std::span<std::uint8_t> out,
                                 const StunBuildOptions& opts) {
  return buildError(request.type, request.transaction_id,
                    request.classic ? &request.classic_id_head : nullptr, code, reason, {}, out,
                    opts);
}

StunServerAction classifyStunRequest(const StunMessage& m, bool can_change_ip,
                                     bool can_change_port, bool supports_response_port) {
  if (m.messageClass() != StunClass::kRequest) {
    return StunServerAction::kIgnore;
  }
  if (m.method() != stunMethod(kStunBindingRequest)) {
    return StunServerAction::kBadRequest;
  }
  std::size_t unknown = m.unknown_required_count;
  if (supports_response_port && unknown <= kStunMaxUnknownRecorded) {
    for (std::uint16_t t : m.unknownRequired()) {
      if (t == kStunAttrResponsePort) {
        --unknown;
      }
    }
  }
  if (unknown > 0) {
    return StunServerAction::kUnknownAttribute;
  }
  if ((m.change_ip && !can_change_ip) || (m.change_port && !can_change_port)) {
    return StunServerAction::kCannotChange;
  }
  return StunServerAction::kAnswer;
}

}  // namespace vpn::protocol
