#include "tests/fakes/inner_packets.hpp"

#include <stdexcept>

#include "protocol/ip_address.hpp"

namespace vpn::test {
namespace {

protocol::IpAddress parse(std::string_view text) {
  auto a = protocol::IpAddress::parse(text);
  if (!a) {
    throw std::invalid_argument("bad address");
  }
  return *a;
}

void put16(std::vector<std::uint8_t>& v, std::size_t at, std::size_t value) {
  v[at] = static_cast<std::uint8_t>(value >> 8);
  v[at + 1] = static_cast<std::uint8_t>(value);
}

}  // namespace

std::vector<std::uint8_t> makeIpv4(std::string_view src, std::string_view dst,
                                   std::span<const std::uint8_t> payload) {
  auto s = parse(src);
  auto d = parse(dst);
  std::vector<std::uint8_t> p(20 + 8 + payload.size());
  p[0] = 0x45;
  put16(p, 2, p.size());
  p[8] = 64;
  p[9] = 17;
  std::copy(s.bytes(), s.bytes() + 4, p.begin() + 12);
  std::copy(d.bytes(), d.bytes() + 4, p.begin() + 16);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) {
    sum += (std::uint32_t{p[i]} << 8) | p[i + 1];
  }
  while (sum >> 16) {
    sum = (sum & 0xFFFF) + (sum >> 16);
  }
  put16(p, 10, ~sum & 0xFFFF);
  put16(p, 20, 40000);
  put16(p, 22, 9);
  put16(p, 24, 8 + payload.size());
  std::copy(payload.begin(), payload.end(), p.begin() + 28);
  return p;
}

std::vector<std::uint8_t> makeIpv6(std::string_view src, std::string_view dst,
                                   std::span<const std::uint8_t> payload) {
  auto s = parse(src);
  auto d = parse(dst);
  std::vector<std::uint8_t> p(40 + 8 + payload.size());
  p[0] = 0x60;
  put16(p, 4, 8 + payload.size());
  p[6] = 17;
  p[7] = 64;
  std::copy(s.bytes(), s.bytes() + 16, p.begin() + 8);
  std::copy(d.bytes(), d.bytes() + 16, p.begin() + 24);
  put16(p, 40, 40000);
  put16(p, 42, 9);
  put16(p, 44, 8 + payload.size());
  std::copy(payload.begin(), payload.end(), p.begin() + 48);
  return p;
}

std::vector<std::uint8_t> numberedPayload(std::uint64_t seq, std::size_t pad) {
  std::vector<std::uint8_t> v(8 + pad);
  for (int i = 0; i < 8; ++i) {
    v[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seq >> (56 - 8 * i));
  }
  for (std::size_t i = 0; i < pad; ++i) {
    v[8 + i] = static_cast<std::uint8_t>(seq * 31 + i);
  }
  return v;
}

std::uint64_t sequenceOfIpv4(std::span<const std::uint8_t> packet) {
  if (packet.size() < 36) {
    return ~0ull;
  }
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    seq = (seq << 8) | packet[28 + i];
  }
  return seq;
}

}  // namespace vpn::test
