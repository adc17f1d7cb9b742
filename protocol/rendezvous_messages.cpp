#include "protocol/rendezvous_messages.hpp"

#include "protocol/handshake_packet.hpp"

namespace vpn::protocol {
namespace {

bool readName(ByteReader& r, std::string& out, bool allow_empty) {
  std::size_t len = r.u8();
  auto b = r.bytes(len);
  if (!r.ok() || len > kMaxNameLength || (len == 0 && !allow_empty)) {
    return false;
  }
  out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  return true;
}

void writeName(ByteWriter& w, const std::string& name) {
  w.u8(static_cast<std::uint8_t>(name.size()));
  w.bytes({reinterpret_cast<const std::uint8_t*>(name.data()), name.size()});
}

bool readCandidates(ByteReader& r, std::vector<Candidate>& out) {
  std::size_t n = r.u8();
  if (n > kMaxCandidates) {
    return false;
  }
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = readCandidate(r);
    if (!c) {
      return false;
    }
    out.push_back(*c);
  }
  return r.ok();
}

void writeCandidates(ByteWriter& w, const std::vector<Candidate>& cs) {
  w.u8(static_cast<std::uint8_t>(cs.size()));
  for (const auto& c : cs) {
    writeCandidate(w, c);
  }
}

// The optional trailing NAT type: absent (nothing left) is kUnknown.
NatType readOptionalNat(ByteReader& r) {
  return r.remaining() == 0 ? NatType::kUnknown : natTypeFromWire(r.u8());
}

// The optional trailing port reading: absent (nothing left) is nullopt; a zero port or a
// stride outside 1..kMaxPortStride is malformed.
bool readOptionalReading(ByteReader& r, std::optional<PortReading>& out) {
  if (r.remaining() == 0) {
    return true;
  }
  PortReading reading;
  reading.port = r.u16();
  reading.stride = r.u8();
  if (!r.ok() || reading.port == 0 || reading.stride == 0 || reading.stride > kMaxPortStride) {
    return false;
  }
  out = reading;
  return true;
}

bool validReading(const std::optional<PortReading>& reading) {
  return !reading || (reading->port != 0 && reading->stride != 0 &&
                      reading->stride <= kMaxPortStride);
}

bool readHello(ByteReader& r, std::vector<std::uint8_t>& out) {
  std::size_t len = r.u16();
  auto b = r.bytes(len);
  if (!r.ok() || len == 0 || len > kMaxViaHello) {
    return false;
  }
  out.assign(b.begin(), b.end());
  return true;
}

bool validHello(const std::vector<std::uint8_t>& hello) {
  return !hello.empty() && hello.size() <= kMaxViaHello;
}

void writeHello(ByteWriter& w, const std::vector<std::uint8_t>& hello) {
  w.u16(static_cast<std::uint16_t>(hello.size()));
  w.bytes(hello);
}

void writeReading(ByteWriter& w, const std::optional<PortReading>& reading) {
  if (reading) {
    w.u16(reading->port);
    w.u8(reading->stride);
  }
}

}  // namespace

std::string_view toString(RelayFailure f) {
  switch (f) {
    case RelayFailure::kDisabled: return "relaying is disabled on this rendezvous";
    case RelayFailure::kNotRegistered: return "the peer is not registered with this rendezvous";
    case RelayFailure::kChannelLimit: return "a relay channel limit is reached";
    case RelayFailure::kNotAllowed: return "relaying to this peer is not allowed";
  }
  return "unknown relay failure";
}

std::string_view toString(LookupFailure f) {
  switch (f) {
    case LookupFailure::kNotRegistered: return "not registered";
    case LookupFailure::kRateLimited: return "rate limited";
    case LookupFailure::kNotAllowed: return "not allowed";
  }
  return "unknown";
}

std::optional<ControlType> peekControlType(std::span<const std::uint8_t> plaintext) {
  if (plaintext.empty()) {
    return std::nullopt;
  }
  return static_cast<ControlType>(plaintext[0]);
}

Result<ControlMessage, ParseError> parseControl(std::span<const std::uint8_t> plaintext) {
  ByteReader r(plaintext);
  auto type = r.u8();
  auto version = r.u8();
  if (!r.ok()) {
    return err(ParseError::kTruncated);
  }
  if (version != kRendezvousVersion) {
    return err(ParseError::kBadVersion);
  }
  ControlMessage msg;
  switch (static_cast<ControlType>(type)) {
    case ControlType::kRegister: {
      RegisterMsg m;
      if (!readCandidates(r, m.candidates)) {
        return err(ParseError::kBadField);
      }
      m.nat_type = readOptionalNat(r);
      msg = std::move(m);
      break;
    }
    case ControlType::kRegistered: {
      RegisteredMsg m;
      auto ep = readEndpoint(r);
      m.refresh_seconds = r.u16();
      if (!ep || !r.ok() || m.refresh_seconds == 0) {
        return err(ParseError::kBadField);
      }
      m.reflexive = *ep;
      msg = m;
      break;
    }
    case ControlType::kLookup: {
      LookupMsg m;
      m.request_id = r.u32();
      auto kind = r.u8();
      if (kind == 1) {
        std::string name;
        if (!readName(r, name, false)) {
          return err(ParseError::kBadField);
        }
        m.name = std::move(name);
      } else if (kind == 2) {
        auto family = r.u8();
        if (family == 4) {
          auto b = r.bytes(4);
          if (r.ok()) {
            m.address = IpAddress::v4(b.data());
          }
        } else if (family == 6) {
          auto b = r.bytes(16);
          if (r.ok()) {
            m.address = IpAddress::v6(b.data());
          }
        }
        if (!m.address) {
          return err(ParseError::kBadField);
        }
      } else {
        return err(ParseError::kBadField);
      }
      if (!readOptionalReading(r, m.reading)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    case ControlType::kIntroduce: {
      IntroduceMsg m;
      m.request_id = r.u32();
      m.intro_id = r.u64();
      auto key = r.bytes(32);
      if (!r.ok()) {
        return err(ParseError::kTruncated);
      }
      std::copy(key.begin(), key.end(), m.punch_key.begin());
      if (!readName(r, m.peer_name, false) || !readCandidates(r, m.candidates)) {
        return err(ParseError::kBadField);
      }
      m.peer_nat_type = readOptionalNat(r);
      if (!readOptionalReading(r, m.peer_reading)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    case ControlType::kLookupFailed: {
      LookupFailedMsg m;
      m.request_id = r.u32();
      auto reason = r.u8();
      if (reason < 1 || reason > 3 || !readName(r, m.name, true)) {
        return err(ParseError::kBadField);
      }
      m.reason = static_cast<LookupFailure>(reason);
      msg = std::move(m);
      break;
    }
    case ControlType::kRelayRequest: {
      RelayRequestMsg m;
      m.request_id = r.u32();
      if (!readName(r, m.peer_name, false)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    case ControlType::kRelayBound: {
      RelayBoundMsg m;
      m.request_id = r.u32();
      m.channel = r.u16();
      if (!r.ok()) {
        return err(ParseError::kTruncated);
      }
      if (m.channel == 0 || !readName(r, m.peer_name, false)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    case ControlType::kRelayFailed: {
      RelayFailedMsg m;
      m.request_id = r.u32();
      auto reason = r.u8();
      if (reason < 1 || reason > 4 || !readName(r, m.peer_name, false)) {
        return err(ParseError::kBadField);
      }
      m.reason = static_cast<RelayFailure>(reason);
      msg = std::move(m);
      break;
    }
    case ControlType::kAlsoHere: {
      AlsoHereMsg m;
      m.request_id = r.u32();
      msg = m;
      break;
    }
    case ControlType::kSeenHere: {
      SeenHereMsg m;
      m.request_id = r.u32();
      auto ep = readEndpoint(r);
      if (!ep || !r.ok()) {
        return err(ParseError::kBadField);
      }
      m.reflexive = *ep;
      msg = m;
      break;
    }
    case ControlType::kHelloVia: {
      HelloViaMsg m;
      if (!readName(r, m.peer_name, false) || !readHello(r, m.hello)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    case ControlType::kHelloFrom: {
      HelloFromMsg m;
      m.intro_id = r.u64();
      if (!readName(r, m.peer_name, false) || !readHello(r, m.hello)) {
        return err(ParseError::kBadField);
      }
      msg = std::move(m);
      break;
    }
    default:
      return err(ParseError::kBadType);
  }
  if (!r.ok()) {
    return err(ParseError::kTruncated);
  }
  if (r.remaining() != 0) {
    return err(ParseError::kBadLength);
  }
  return msg;
}

std::size_t serializeControl(const ControlMessage& msg, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  bool valid = true;
  auto header = [&](ControlType t) {
    w.u8(static_cast<std::uint8_t>(t));
    w.u8(kRendezvousVersion);
  };
  auto nameOk = [](const std::string& n, bool allow_empty) {
    return n.size() <= kMaxNameLength && (allow_empty || !n.empty());
  };
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, RegisterMsg>) {
          valid = m.candidates.size() <= kMaxCandidates;
          header(ControlType::kRegister);
          writeCandidates(w, m.candidates);
          w.u8(static_cast<std::uint8_t>(m.nat_type));
        } else if constexpr (std::is_same_v<T, RegisteredMsg>) {
          header(ControlType::kRegistered);
          writeEndpoint(w, m.reflexive);
          w.u16(m.refresh_seconds);
        } else if constexpr (std::is_same_v<T, LookupMsg>) {
          header(ControlType::kLookup);
          w.u32(m.request_id);
          if (m.name) {
            valid = nameOk(*m.name, false) && !m.address;
            w.u8(1);
            writeName(w, *m.name);
          } else if (m.address) {
            w.u8(2);
            w.u8(m.address->isV4() ? 4 : 6);
            w.bytes({m.address->bytes(), m.address->size()});
          } else {
            valid = false;
          }
          valid = valid && validReading(m.reading);
          writeReading(w, m.reading);
        } else if constexpr (std::is_same_v<T, IntroduceMsg>) {
          valid = nameOk(m.peer_name, false) && m.candidates.size() <= kMaxCandidates;
          header(ControlType::kIntroduce);
          w.u32(m.request_id);
          w.u64(m.intro_id);
          w.bytes(m.punch_key);
          writeName(w, m.peer_name);
          writeCandidates(w, m.candidates);
          w.u8(static_cast<std::uint8_t>(m.peer_nat_type));
          valid = valid && validReading(m.peer_reading);
          writeReading(w, m.peer_reading);
        } else if constexpr (std::is_same_v<T, LookupFailedMsg>) {
          valid = nameOk(m.name, true);
          header(ControlType::kLookupFailed);
          w.u32(m.request_id);
          w.u8(static_cast<std::uint8_t>(m.reason));
          writeName(w, m.name);
        } else if constexpr (std::is_same_v<T, RelayRequestMsg>) {
          valid = nameOk(m.peer_name, false);
          header(ControlType::kRelayRequest);
          w.u32(m.request_id);
          writeName(w, m.peer_name);
        } else if constexpr (std::is_same_v<T, RelayBoundMsg>) {
          valid = nameOk(m.peer_name, false) && m.channel != 0;
          header(ControlType::kRelayBound);
          w.u32(m.request_id);
          w.u16(m.channel);
          writeName(w, m.peer_name);
        } else if constexpr (std::is_same_v<T, RelayFailedMsg>) {
          valid = nameOk(m.peer_name, false);
          header(ControlType::kRelayFailed);
          w.u32(m.request_id);
          w.u8(static_cast<std::uint8_t>(m.reason));
          writeName(w, m.peer_name);
        } else if constexpr (std::is_same_v<T, AlsoHereMsg>) {
          header(ControlType::kAlsoHere);
          w.u32(m.request_id);
        } else if constexpr (std::is_same_v<T, SeenHereMsg>) {
          header(ControlType::kSeenHere);
          w.u32(m.request_id);
          writeEndpoint(w, m.reflexive);
        } else if constexpr (std::is_same_v<T, HelloViaMsg>) {
          valid = nameOk(m.peer_name, false) && validHello(m.hello);
          header(ControlType::kHelloVia);
          writeName(w, m.peer_name);
          writeHello(w, m.hello);
        } else if constexpr (std::is_same_v<T, HelloFromMsg>) {
          valid = nameOk(m.peer_name, false) && validHello(m.hello);
          header(ControlType::kHelloFrom);
          w.u64(m.intro_id);
          writeName(w, m.peer_name);
          writeHello(w, m.hello);
        }
      },
      msg);
  return valid && w.ok() ? w.size() : 0;
}

}  // namespace vpn::protocol
