#pragma once
// Candidate: an endpoint where a peer may be reached, and how it was learned. Peers announce
// their local (LAN) candidates to the rendezvous, which adds the server-reflexive one it observes.
// Probing goes best first: local, then reflexive (as ICE orders host before server-reflexive).
// A tcp candidate is not punched: it is where a direct TCP connection may be opened.
//
// Wire encoding (inside rendezvous messages):
//   kind (8) | family (8: 4 or 6) | address (4 or 16 bytes) | port (16)
#include <cstdint>
#include <optional>
#include <span>
#include <vector>
#include <string_view>

#include "base/byte_io.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::protocol {

enum class CandidateKind : std::uint8_t {
  kLocal = 1,      // an interface address of the peer with its listen port
  kReflexive = 2,  // the peer's public mapping, as the rendezvous saw it
  kTcp = 3,        // an endpoint where the peer accepts TCP (a public host or a forwarded port)
  kMapped = 4,     // a public endpoint the peer's router maps to it (PCP, NAT-PMP or UPnP-IGD)
};

std::string_view toString(CandidateKind k);

struct Candidate {
  CandidateKind kind = CandidateKind::kLocal;
  Endpoint endpoint;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

inline constexpr std::size_t kMaxCandidates = 8;

// Candidate hygiene: the candidates a peer announces that others may probe or dial. Kept: at most
// kMaxCandidates - 1 local, mapped and tcp candidates with routable unicast addresses (see
// IpAddress::isRoutableUnicast), the local ones all on the port of the first (a peer has one UDP
// port; a member must not make others send to some service's port on its LAN), and one mapped
// candidate (a peer has one router; its port is the router's choice). Returns how many were
// dropped. Reflexive candidates are never taken from a peer's own word.
std::size_t keepAnnounceable(std::span<const Candidate> in, std::vector<Candidate>& out);

// Reads one candidate; nullopt (and r fails or holds garbage) on a bad kind, family or length.
std::optional<Candidate> readCandidate(ByteReader& r);
void writeCandidate(ByteWriter& w, const Candidate& c);
// An endpoint with no kind byte: family (8) | address | port (16).
std::optional<Endpoint> readEndpoint(ByteReader& r);
void writeEndpoint(ByteWriter& w, const Endpoint& e);

}  // namespace vpn::protocol
