#pragma once
// IpAddress, IpPrefix and Endpoint: plain value types for IPv4 and IPv6 underlay and overlay
// addresses. Parsing is strict (no host names, no zone ids) and never throws; formatting returns
// the canonical text ("10.0.0.1", "fd00::1", "10.0.0.1:51820", "[fd00::1]:51820").
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace vpn::protocol {

class IpAddress {
 public:
  enum class Family : std::uint8_t { kV4 = 4, kV6 = 6 };

  IpAddress() = default;  // 0.0.0.0
  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v4(const std::uint8_t bytes[4]);
  static IpAddress v6(const std::uint8_t bytes[16]);
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::kV4; }
  bool isV6() const { return family_ == Family::kV6; }
  // 4 meaningful bytes for IPv4, 16 for IPv6.
  const std::uint8_t* bytes() const { return bytes_.data(); }
  std::size_t size() const { return isV4() ? 4 : 16; }
  bool isUnspecified() const;
  bool isLoopback() const;
  // An address one host can send a unicast datagram to on purpose: not unspecified (0.0.0.0/8,
  // ::), loopback, link-local (169.254/16, fe80::/10), multicast (224/4, ff00::/8), reserved or
  // broadcast (240/4), nor IPv4-mapped IPv6 (::ffff:0:0/96, which can hide any of those).
  bool isRoutableUnicast() const;
  std::string toString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend auto operator<=>(const IpAddress& a, const IpAddress& b) {
    if (a.family_ != b.family_) {
      return a.family_ <=> b.family_;
    }
    return a.bytes_ <=> b.bytes_;
  }

 private:
  Family family_ = Family::kV4;
  std::array<std::uint8_t, 16> bytes_{};
};

class IpPrefix {
 public:
  IpPrefix() = default;
  IpPrefix(IpAddress addr, std::uint8_t length) : addr_(addr), length_(length) {}
  // "10.42.0.1/24" or "fd00::1/64". A bare address gets the host length (/32 or /128).
  static std::optional<IpPrefix> parse(std::string_view text);

  const IpAddress& address() const { return addr_; }
  std::uint8_t length() const { return length_; }
  // The prefix with host bits cleared: 10.42.0.1/24 -> 10.42.0.0/24.
  IpPrefix network() const;
  bool contains(const IpAddress& a) const;
  std::string toString() const;

  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;

 private:
  IpAddress addr_;
  std::uint8_t length_ = 0;
};

class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(IpAddress addr, std::uint16_t port) : addr_(addr), port_(port) {}
  // "192.0.2.7:51820" or "[2001:db8::7]:51820".
  static std::optional<Endpoint> parse(std::string_view text);

  const IpAddress& address() const { return addr_; }
  std::uint16_t port() const { return port_; }
  std::string toString() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint& a, const Endpoint& b) {
    if (auto c = a.addr_ <=> b.addr_; c != 0) {
      return c;
    }
    return a.port_ <=> b.port_;
  }

 private:
  IpAddress addr_;
  std::uint16_t port_ = 0;
};

// Splits "host:port" or "[v6]:port" into its parts without judging the host: nullopt if the shape
// is wrong (missing port, unbracketed IPv6, port not a number in 0..65535). `bracketed` tells the
// caller the host was written in brackets (it must then be an IPv6 address).
struct HostPortParts {
  std::string_view host;
  std::uint16_t port = 0;
  bool bracketed = false;
};
std::optional<HostPortParts> splitHostPort(std::string_view text);

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept;
};
struct IpAddressHash {
  std::size_t operator()(const IpAddress& a) const noexcept;
};

}  // namespace vpn::protocol
