#pragma once
// Why an untrusted datagram was rejected. Each reason is counted separately and shown by
// `vpnpeer status`, so the names are stable (they appear in status --json).
#include <cstdint>
#include <string_view>

namespace vpn::protocol {

enum class ParseError : std::uint8_t {
  kTruncated,
  kBadType,
  kBadVersion,
  kBadLength,
  kBadField,
};

inline std::string_view toString(ParseError e) {
  switch (e) {
    case ParseError::kTruncated: return "truncated";
    case ParseError::kBadType: return "bad_type";
    case ParseError::kBadVersion: return "bad_version";
    case ParseError::kBadLength: return "bad_length";
    case ParseError::kBadField: return "bad_field";
  }
  return "unknown";
}

}  // namespace vpn::protocol
