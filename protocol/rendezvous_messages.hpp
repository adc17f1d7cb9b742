#pragma once
// Control messages between a peer and a rendezvous server. They travel sealed in control packets
// (type 0x60|P, the data packet layout of data_packet.hpp) of the TLS-keyed session the peer holds
// with the rendezvous, so they are authenticated both ways and a peer's name and overlay addresses
// come from its certificate, never from a message.
//
// Plaintext of a control packet:
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | message type  | version (1)   |  body ...                     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Bodies (candidates and endpoints encoded as in candidate.hpp; names as length (8) + bytes):
//   REGISTER       peer -> rv   count (8) | local candidates | [NAT type (8)]
//   REGISTERED     rv -> peer   reflexive endpoint | refresh seconds (16)
//   LOOKUP         peer -> rv   request id (32) | kind (8: 1 name, 2 overlay address) |
//                               name, or address as family (8) + bytes | [port reading]
//   INTRODUCE      rv -> peer   request id (32; 0 on the side that did not ask) | intro id (64) |
//                               punch key (32 bytes) | peer name | count (8) | candidates |
//                               [NAT type of the introduced peer (8) | [its port reading]]
//   LOOKUP_FAILED  rv -> peer   request id (32) | reason (8) | name (may be empty)
//   RELAY_REQUEST  peer -> rv   request id (32) | peer name
//   RELAY_BOUND    rv -> peer   request id (32; 0 on the side that did not ask) | channel (16,
//                               nonzero) | peer name
//   RELAY_FAILED   rv -> peer   request id (32) | reason (8) | peer name
//   ALSO_HERE      peer -> rv   request id (32)
//   SEEN_HERE      rv -> peer   request id (32) | the endpoint ALSO_HERE came from
//   HELLO_VIA      peer -> rv   peer name | length (16) | hello
//   HELLO_FROM     rv -> peer   intro id (64) | peer name | length (16) | hello
//
// [NAT type] is optional on the wire (nat_type.hpp): a message without it parses as kUnknown, so
// peers from before it are understood; serializing always writes it. Unknown NAT values read as
// kUnknown. RELAY_BOUND goes to both peers of a channel (relay_packet.hpp).
//
// A port reading (port (16) | stride (8), stride 1..kMaxPortStride) is what a peer behind a NAT
// that allocates public ports in sequence found its NAT's next port to be just before it looked
// up a peer: the port a fresh mapping got, and the step between consecutive mappings. The
// rendezvous keeps the newest one a peer sent and passes it on in INTRODUCE while it is fresh
// (docs/paths.md rule 14). A rendezvous from before readings refuses a LOOKUP that carries one
// (trailing bytes), so peers send them only with port prediction on.
//
// ALSO_HERE is sent in the same session to the server's address of the other IP family (a
// dual-stack peer registered over IPv4 sends it to the server's IPv6 address, or the reverse).
// The server does not move the session there: it keeps the source as the peer's reflexive
// endpoint of that family, introduces it as a second reflexive candidate, and answers SEEN_HERE
// to that source.
//
// HELLO_VIA carries the first handshake packet of our attempt with the named peer (a TLS
// ClientHello, unpadded: handshake_packet.hpp), sent just before the LOOKUP that asks for the
// introduction. The rendezvous keeps the newest one per session for a few seconds and, whenever it
// introduces the two, passes it to the named peer in HELLO_FROM right after INTRODUCE, with the
// intro id and the sender's certified name. That peer answers at the sender's reflexive endpoint
// half a round trip before the sender's own copy could arrive (docs/paths.md rule 1). The hello
// is 1..kMaxViaHello bytes; neither side trusts it further than a handshake packet from the
// network. A rendezvous from before HELLO_VIA drops it as an unknown type, and the lookup goes on.
//
// The rendezvous sends INTRODUCE to both peers at the same instant, each with the other's
// candidates and the same intro id and punch key, which authenticate the punch probes
// (punch_packet.hpp). Parsing never trusts lengths; it never allocates beyond the message struct.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "protocol/candidate.hpp"
#include "protocol/nat_type.hpp"
#include "protocol/parse_error.hpp"

namespace vpn::protocol {

inline constexpr std::uint8_t kRendezvousVersion = 1;

enum class ControlType : std::uint8_t {
  kRegister = 1,
  kRegistered = 2,
  kLookup = 3,
  kIntroduce = 4,
  kLookupFailed = 5,
  kRelayRequest = 6,
  kRelayBound = 7,
  kRelayFailed = 8,
  kAlsoHere = 9,
  kSeenHere = 10,
  kHelloVia = 11,
  kHelloFrom = 12,
};

enum class LookupFailure : std::uint8_t {
  kNotRegistered = 1,  // the peer is known to nobody right now
  kRateLimited = 2,
  kNotAllowed = 3,     // e.g. looking up ourselves
};

std::string_view toString(LookupFailure f);

enum class RelayFailure : std::uint8_t {
  kDisabled = 1,       // this rendezvous does not relay
  kNotRegistered = 2,  // the named peer has no session with this rendezvous
  kChannelLimit = 3,   // one of the two peers has all the channels it may have
  kNotAllowed = 4,     // e.g. asking for a channel to ourselves
};

// In words, for logs and `explain` ("relaying is disabled on this rendezvous", ...).
std::string_view toString(RelayFailure f);

inline constexpr std::uint8_t kMaxPortStride = 8;
struct PortReading {
  std::uint16_t port = 0;    // the public port a fresh mapping got
  std::uint8_t stride = 1;   // 1..kMaxPortStride
  bool operator==(const PortReading&) const = default;
};

struct RegisterMsg {
  std::vector<Candidate> candidates;  // local (and tcp) candidates only
  NatType nat_type = NatType::kUnknown;
};
struct RegisteredMsg {
  Endpoint reflexive;
  std::uint16_t refresh_seconds = 25;
};
struct LookupMsg {
  std::uint32_t request_id = 0;
  std::optional<std::string> name;        // exactly one of name / address
  std::optional<IpAddress> address;
  std::optional<PortReading> reading;     // ours, when our NAT allocates in sequence
};
struct IntroduceMsg {
  std::uint32_t request_id = 0;
  std::uint64_t intro_id = 0;
  std::array<std::uint8_t, 32> punch_key{};
  std::string peer_name;
  std::vector<Candidate> candidates;
  NatType peer_nat_type = NatType::kUnknown;
  std::optional<PortReading> peer_reading;  // the introduced peer's fresh one, if any
};
struct LookupFailedMsg {
  std::uint32_t request_id = 0;
  LookupFailure reason = LookupFailure::kNotRegistered;
  std::string name;
};

struct RelayRequestMsg {
  std::uint32_t request_id = 0;
  std::string peer_name;
};
struct RelayBoundMsg {
  std::uint32_t request_id = 0;  // 0 on the side that did not ask
  std::uint16_t channel = 0;     // nonzero
  std::string peer_name;
};
struct RelayFailedMsg {
  std::uint32_t request_id = 0;
  RelayFailure reason = RelayFailure::kDisabled;
  std::string peer_name;
};

struct AlsoHereMsg {
  std::uint32_t request_id = 0;
};
struct SeenHereMsg {
  std::uint32_t request_id = 0;
  Endpoint reflexive;  // where ALSO_HERE came from
};

// Fits a ClientHello packet with room to spare, and keeps HELLO_FROM within kMaxControlPayload.
inline constexpr std::size_t kMaxViaHello = 1024;
struct HelloViaMsg {
  std::string peer_name;             // whom the hello is for
  std::vector<std::uint8_t> hello;   // 1..kMaxViaHello bytes
};
struct HelloFromMsg {
  std::uint64_t intro_id = 0;        // the introduction it belongs to
  std::string peer_name;             // the sender's certified name
  std::vector<std::uint8_t> hello;   // 1..kMaxViaHello bytes
};

using ControlMessage =
    std::variant<RegisterMsg, RegisteredMsg, LookupMsg, IntroduceMsg, LookupFailedMsg,
                 RelayRequestMsg, RelayBoundMsg, RelayFailedMsg, AlsoHereMsg, SeenHereMsg,
                 HelloViaMsg, HelloFromMsg>;

// The type byte of a control plaintext, without parsing the rest (nullopt if too short).
std::optional<ControlType> peekControlType(std::span<const std::uint8_t> plaintext);

Result<ControlMessage, ParseError> parseControl(std::span<const std::uint8_t> plaintext);
// Returns the bytes written, or 0 if out is too small or a field is out of range (too many
// candidates, a name over kMaxNameLength or empty where a name is required, channel 0).
std::size_t serializeControl(const ControlMessage& msg, std::span<std::uint8_t> out);

}  // namespace vpn::protocol
