#include "protocol/candidate.hpp"

namespace vpn::protocol {

std::string_view toString(CandidateKind k) {
  switch (k) {
    case CandidateKind::kLocal: return "local";
    case CandidateKind::kReflexive: return "reflexive";
    case CandidateKind::kTcp: return "tcp";
    case CandidateKind::kMapped: return "mapped";
  }
  return "unknown";
}

std::size_t keepAnnounceable(std::span<const Candidate> in, std::vector<Candidate>& out) {
  out.clear();
  std::size_t dropped = 0;
  std::optional<std::uint16_t> udp_port;
  bool mapped = false;
  for (const auto& c : in) {
    bool ok = c.kind != CandidateKind::kReflexive && c.endpoint.address().isRoutableUnicast() &&
              out.size() + 1 < kMaxCandidates;
    if (ok && c.kind == CandidateKind::kLocal) {
      if (!udp_port) {
        udp_port = c.endpoint.port();
      }
      ok = c.endpoint.port() == *udp_port;
    }
    if (ok && c.kind == CandidateKind::kMapped) {
      ok = !mapped;
      mapped = true;
    }
    if (ok) {
      out.push_back(c);
    } else {
      ++dropped;
    }
  }
  return dropped;
}

std::optional<Endpoint> readEndpoint(ByteReader& r) {
  std::uint8_t family = r.u8();
  IpAddress addr;
  if (family == 4) {
    auto b = r.bytes(4);
    if (!r.ok()) {
      return std::nullopt;
    }
    addr = IpAddress::v4(b.data());
  } else if (family == 6) {
    auto b = r.bytes(16);
    if (!r.ok()) {
      return std::nullopt;
    }
    addr = IpAddress::v6(b.data());
  } else {
    return std::nullopt;
  }
  std::uint16_t port = r.u16();
  if (!r.ok() || port == 0) {
    return std::nullopt;
  }
  return Endpoint(addr, port);
}

void writeEndpoint(ByteWriter& w, const Endpoint& e) {
  w.u8(e.address().isV4() ? 4 : 6);
  w.bytes({e.address().bytes(), e.address().size()});
  w.u16(e.port());
}

std::optional<Candidate> readCandidate(ByteReader& r) {
  std::uint8_t kind = r.u8();
  if (kind < static_cast<std::uint8_t>(CandidateKind::kLocal) ||
      kind > static_cast<std::uint8_t>(CandidateKind::kMapped)) {
    return std::nullopt;
  }
  auto ep = readEndpoint(r);
  if (!ep) {
    return std::nullopt;
  }
  return Candidate{static_cast<CandidateKind>(kind), *ep};
}

void writeCandidate(ByteWriter& w, const Candidate& c) {
  w.u8(static_cast<std::uint8_t>(c.kind));
  writeEndpoint(w, c.endpoint);
}

}  // namespace vpn::protocol
