#pragma once
// STUN (RFC 8489) Binding messages with the RFC 5780 NAT behaviour discovery attributes: what the
// rendezvous server answers on our UDP port, and what `vpnpeer netcheck` sends. No authentication
// (no MESSAGE-INTEGRITY is produced or checked), no TCP framing, no TURN.
//
// Header (20 bytes):
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN message type     |      message length (bytes)   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  magic cookie (0x2112A442)                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                transaction id (96 bits)                       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  Message type bits: M11..M7 C1 M6..M4 C0 M3..M0 (method M, class C: 00 request,
//  01 indication, 10 success response, 11 error response). Binding: 0x0001 request,
//  0x0101 success, 0x0111 error. The length excludes the header and is a multiple of 4.
//
// Attributes follow, each (type 16 | length 16 | value, zero-padded to a multiple of 4 bytes;
// the length excludes the padding). Types below 0x8000 are comprehension-required.
//   (XOR-)MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS:
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0 0 0 0 0 0 0|  family (1 v4, 2 v6) |  port (XOR-: ^ cookie>>16)|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   address, 4 or 16 bytes (XOR-: ^ cookie, v6: ^ cookie|transaction id)
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   CHANGE-REQUEST: 32 bits, 0x4 change IP, 0x2 change port.
//   ERROR-CODE: 21 zero bits | class (3 bits, 3..6) | number (8 bits, 0..99) | UTF-8 reason.
//   UNKNOWN-ATTRIBUTES: a list of 16-bit attribute types.
//   FINGERPRINT: CRC-32 of the message up to this attribute, XOR 0x5354554E; always last.
//
// Classic STUN (RFC 3489): the same header with no magic cookie, its 32 bits being the first of a
// 128-bit transaction id. Parsed only when asked (allow_classic), and answered as RFC 5389
// section 12 describes: the whole 128-bit id echoed, MAPPED-ADDRESS, SOURCE-ADDRESS and
// CHANGED-ADDRESS instead of the RFC 5780 attributes, no SOFTWARE and no FINGERPRINT.
//
// Parsing is bounds-checked and never trusts a length. The parsed message holds views into the
// datagram (software, error reason) and never allocates; it is valid as long as the datagram is.
// Builders write into caller memory and return the size written, or 0 if `out` is too small or
// an argument is out of range. Nothing here throws. Not thread-aware (pure functions).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "base/result.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/packet_type.hpp"
#include "protocol/parse_error.hpp"

namespace vpn::protocol {

inline constexpr std::size_t kStunHeaderSize = 20;
inline constexpr std::size_t kStunTransactionIdSize = 12;
// Enough for every message built here (the largest: a success response with all four address
// attributes in IPv6, a 128-byte SOFTWARE and FINGERPRINT is 20 + 4*24 + 132 + 8 = 256 bytes).
inline constexpr std::size_t kStunMaxBuiltSize = 548;
inline constexpr std::size_t kStunMaxSoftwareSize = 128;   // what we send; we accept up to 763
inline constexpr std::size_t kStunMaxReasonSize = 128;     // what we send; we accept up to 763
inline constexpr std::size_t kStunMaxUnknownRecorded = 8;

inline constexpr std::uint16_t kStunBindingRequest = 0x0001;
inline constexpr std::uint16_t kStunBindingIndication = 0x0011;
inline constexpr std::uint16_t kStunBindingSuccess = 0x0101;
inline constexpr std::uint16_t kStunBindingError = 0x0111;

inline constexpr std::uint16_t kStunAttrMappedAddress = 0x0001;
inline constexpr std::uint16_t kStunAttrChangeRequest = 0x0003;     // RFC 5780
inline constexpr std::uint16_t kStunAttrSourceAddress = 0x0004;     // RFC 3489, read only
inline constexpr std::uint16_t kStunAttrChangedAddress = 0x0005;    // RFC 3489, read only
inline constexpr std::uint16_t kStunAttrUsername = 0x0006;
inline constexpr std::uint16_t kStunAttrMessageIntegrity = 0x0008;
inline constexpr std::uint16_t kStunAttrErrorCode = 0x0009;
inline constexpr std::uint16_t kStunAttrUnknownAttributes = 0x000A;
inline constexpr std::uint16_t kStunAttrRealm = 0x0014;
inline constexpr std::uint16_t kStunAttrNonce = 0x0015;
inline constexpr std::uint16_t kStunAttrMessageIntegritySha256 = 0x001C;
inline constexpr std::uint16_t kStunAttrUserhash = 0x001E;
inline constexpr std::uint16_t kStunAttrXorMappedAddress = 0x0020;
inline constexpr std::uint16_t kStunAttrPadding = 0x0026;           // RFC 5780, ignored
inline constexpr std::uint16_t kStunAttrResponsePort = 0x0027;      // RFC 5780, opt-in
inline constexpr std::uint16_t kStunAttrSoftware = 0x8022;
inline constexpr std::uint16_t kStunAttrFingerprint = 0x8028;
inline constexpr std::uint16_t kStunAttrResponseOrigin = 0x802B;    // RFC 5780
inline constexpr std::uint16_t kStunAttrOtherAddress = 0x802C;      // RFC 5780

inline constexpr std::uint32_t kStunFingerprintXor = 0x5354554E;
inline constexpr std::uint32_t kStunChangeIp = 0x04;
inline constexpr std::uint32_t kStunChangePort = 0x02;

inline constexpr std::uint16_t kStunErrorBadRequest = 400;
inline constexpr std::uint16_t kStunErrorUnknownAttribute = 420;
inline constexpr std::uint16_t kStunErrorServerError = 500;

using StunTransactionId = std::array<std::uint8_t, kStunTransactionIdSize>;

enum class StunClass : std::uint8_t { kRequest, kIndication, kSuccess, kError };

inline constexpr std::uint16_t stunMethod(std::uint16_t type) {
  return static_cast<std::uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) |
                                    ((type & 0x3E00) >> 2));
}
inline constexpr StunClass stunClass(std::uint16_t type) {
  return static_cast<StunClass>(((type & 0x0100) >> 7) | ((type & 0x0010) >> 4));
}

struct StunErrorCode {
  std::uint16_t code = 0;       // 300..699
  std::string_view reason;      // view into the datagram (parse) or caller memory (build)
};

// A parsed message. Attributes appear at most once; a repeated attribute keeps its first value
// (RFC 8489 §14). Attributes after MESSAGE-INTEGRITY(-SHA256) are ignored except FINGERPRINT.
struct StunMessage {
  std::uint16_t type = 0;       // full message type, e.g. kStunBindingRequest
  StunTransactionId transaction_id{};
  // RFC 3489: no magic cookie; `classic_id_head` holds the 4 bytes in its place (the start of the
  // 128-bit transaction id, echoed in the answer).
  bool classic = false;
  std::array<std::uint8_t, 4> classic_id_head{};

  std::optional<Endpoint> xor_mapped;       // XOR-MAPPED-ADDRESS, decoded
  std::optional<Endpoint> mapped;           // MAPPED-ADDRESS
  std::optional<Endpoint> response_origin;  // RESPONSE-ORIGIN (or RFC 3489 SOURCE-ADDRESS)
  std::optional<Endpoint> other_address;    // OTHER-ADDRESS (or RFC 3489 CHANGED-ADDRESS)
  bool has_change_request = false;
  bool change_ip = false;                   // CHANGE-REQUEST flags
  bool change_port = false;
  // RESPONSE-PORT (RFC 5780 §7.5): answer to this port of the source address instead. Also
  // listed in unknown_required, because a server answers 420 unless it opts in (see
  // classifyStunRequest).
  std::optional<std::uint16_t> response_port;
  std::optional<StunErrorCode> error;       // ERROR-CODE
  std::string_view software;                // SOFTWARE, empty if absent
  bool has_message_integrity = false;       // present; never verified (no authentication here)
  bool has_fingerprint = false;             // present and verified (a bad one fails the parse)

  // Comprehension-required attribute types (< 0x8000) this codec does not understand, in order
  // of appearance; the first kStunMaxUnknownRecorded are kept, unknown_required_count counts all.
  // A server answers such a request with 420 listing them; a client discards such a response.
  std::array<std::uint16_t, kStunMaxUnknownRecorded> unknown_required{};
  std::size_t unknown_required_count = 0;
  // UNKNOWN-ATTRIBUTES of an error response (the first kStunMaxUnknownRecorded).
  std::array<std::uint16_t, kStunMaxUnknownRecorded> unknown_attributes{};
  std::size_t unknown_attributes_count = 0;

  std::uint16_t method() const { return stunMethod(type); }
  StunClass messageClass() const { return stunClass(type); }
  std::span<const std::uint16_t> unknownRequired() const {
    return std::span<const std::uint16_t>(unknown_required).first(
        unknown_required_count < kStunMaxUnknownRecorded ? unknown_required_count
                                                         : kStunMaxUnknownRecorded);
  }
  // The address the server saw: XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an old server.
  std::optional<Endpoint> reflexive() const { return xor_mapped ? xor_mapped : mapped; }
};

// Checks only the 20-byte header: first two bits 00, magic cookie, length a multiple of 4 and
// equal to the datagram's size minus 20. A server may use this to answer 400 to a request whose
// attributes fail to parse.
// allow_classic: a header without the magic cookie is taken as RFC 3489 (classic) instead of
// failing with kBadVersion.
struct StunHeader {
  std::uint16_t type = 0;
  std::uint16_t length = 0;
  StunTransactionId transaction_id{};
  bool classic = false;
  std::array<std::uint8_t, 4> classic_id_head{};
};
Result<StunHeader, ParseError> parseStunHeader(std::span<const std::uint8_t> datagram,
                                               bool allow_classic = false);

// Parses a whole datagram as one STUN message. Errors: kTruncated (shorter than its header says,
// or an attribute runs past the end), kBadType (first two bits not 00), kBadVersion (no magic
// cookie), kBadLength (length not a multiple of 4, not equal to the datagram, or an attribute
// length wrong for its type), kBadField (bad address family, bad ERROR-CODE class, FINGERPRINT
// mismatch or not last). Unknown comprehension-optional attributes are skipped; unknown
// comprehension-required ones are recorded, not rejected (see StunMessage).
// allow_classic as for parseStunHeader (then StunMessage::classic tells which it was).
Result<StunMessage, ParseError> parseStun(std::span<const std::uint8_t> datagram,
                                          bool allow_classic = false);

// CRC-32 (ISO-HDLC, as in zlib) and the FINGERPRINT value of `message_prefix`.
std::uint32_t crc32(std::span<const std::uint8_t> data);
inline std::uint32_t stunFingerprint(std::span<const std::uint8_t> message_prefix) {
  return crc32(message_prefix) ^ kStunFingerprintXor;
}

struct StunBuildOptions {
  std::string_view software;   // SOFTWARE, omitted if empty; at most kStunMaxSoftwareSize bytes
  bool fingerprint = true;     // append FINGERPRINT
};

// A Binding request, with CHANGE-REQUEST when change_ip or change_port is set, and a PADDING
// attribute (RFC 5780 section 7.6) that brings the whole message to at least `pad_to` bytes: a
// server that answers no more than it was sent (vpnpeer-rendezvous outside a small allowance)
// then always answers.
struct BindingRequestParams {
  StunTransactionId transaction_id{};
  bool change_ip = false;
  bool change_port = false;
  std::size_t pad_to = 0;
  // RESPONSE-PORT (RFC 5780 section 7.5): ask for the answer at this port of our address (the
  // binding lifetime test, client/netcheck/mapping_lifetime.hpp).
  std::optional<std::uint16_t> response_port;
};
// Large enough for any Binding response of the rendezvous: XOR-MAPPED, MAPPED, RESPONSE-ORIGIN
// and OTHER-ADDRESS all IPv6, SOFTWARE and FINGERPRINT.
inline constexpr std::size_t kStunPaddedRequestSize = 160;
std::size_t buildBindingRequest(const BindingRequestParams& p, std::span<std::uint8_t> out,
                                const StunBuildOptions& opts = {});

// A Binding success response to `request` (its transaction id is echoed) carrying
// XOR-MAPPED-ADDRESS and MAPPED-ADDRESS of `observed_source` (the request's source as seen by the
// server), RESPONSE-ORIGIN `response_origin` (the local address:port the response is sent from)
// and OTHER-ADDRESS `other_address` (RFC 5780: only when the server has a second IP address;
// netcheck learns an alternate port without one from a change-port answer).
// Set response_origin to nullopt to omit it (e.g. the server's socket is bound to a wildcard).
// To a classic request: MAPPED-ADDRESS, and response_origin and other_address as SOURCE-ADDRESS
// and CHANGED-ADDRESS; opts are not used (RFC 3489 has neither SOFTWARE nor FINGERPRINT).
std::size_t buildBindingResponse(const StunMessage& request, const Endpoint& observed_source,
                                 const std::optional<Endpoint>& response_origin,
                                 const std::optional<Endpoint>& other_address,
                                 std::span<std::uint8_t> out, const StunBuildOptions& opts = {});

// A Binding error response to `request` with ERROR-CODE `code` (300..699) and `reason` (at most
// kStunMaxReasonSize bytes; empty means the standard phrase for 400/420/500), and
// UNKNOWN-ATTRIBUTES `unknown` when code is 420 (at most kStunMaxUnknownRecorded types).
std::size_t buildBindingError(const StunMessage& request, std::uint16_t code,
                              std::string_view reason, std::span<const std::uint16_t> unknown,
                              std::span<std::uint8_t> out, const StunBuildOptions& opts = {});

// What a server should do with a parsed message (RFC 8489 §6.3, RFC 5780 §6.1). `can_change_ip`
// and `can_change_port`: whether this server can answer from an alternate address / port.
// `supports_response_port`: whether it honours RESPONSE-PORT (sends the answer to
// Endpoint(source address, *m.response_port)); if not, RESPONSE-PORT is an unknown attribute and
// the answer is 420, which RFC 5780 allows. coturn's turnutils_stunclient -f sends RESPONSE-PORT
// with its CHANGE-REQUEST tests and gives up on a 420.
//   kAnswer:            a Binding request we can serve: send buildBindingResponse from the
//                       socket m.change_ip / m.change_port select (alternate address and/or port;
//                       RESPONSE-ORIGIN is that socket's address, OTHER-ADDRESS the
//                       alternate-address-and-port endpoint if the server has one).
//   kUnknownAttribute:  unknown comprehension-required attributes: send
//                       buildBindingError(420, ..., m.unknownRequired()) (with RESPONSE-PORT
//                       supported, that list may still name it among the real unknowns).
//   kCannotChange:      CHANGE-REQUEST asks for an alternate address/port this server lacks: send
//                       buildBindingError(420, ..., {kStunAttrChangeRequest}) from the primary.
//   kBadRequest:        a request of another method: send buildBindingError(400, ..., {}).
//   kIgnore:            indications and responses: send nothing.
// For a datagram that fails parseStun but passes parseStunHeader as a request, answer 400 with
// the header's transaction id (see buildBindingErrorFor).
enum class StunServerAction : std::uint8_t {
  kAnswer,
  kUnknownAttribute,
  kCannotChange,
  kBadRequest,
  kIgnore,
};
StunServerAction classifyStunRequest(const StunMessage& m, bool can_change_ip,
                                     bool can_change_port, bool supports_response_port = false);

// buildBindingError for a request known only by its header (its attributes failed to parse).
std::size_t buildBindingErrorFor(const StunHeader& request, std::uint16_t code,
                                 std::string_view reason, std::span<std::uint8_t> out,
                                 const StunBuildOptions& opts = {});

}  // namespace vpn::protocol
