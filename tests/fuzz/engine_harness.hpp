#pragma once
// Shared by the engine fuzz targets: a throwaway PKI made once per process, a fixed clock origin,
// and a sink that remembers the last datagrams an engine sent, so a target can feed them back
// (mutated) and reach past the first parser.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"
#include "tests/fakes/test_pki.hpp"

namespace vpn::fuzz {

// The last few datagrams sent, newest last; copies, so they outlive the send call.
class SentRing {
 public:
  void add(std::span<const std::uint8_t> bytes) {
    slots_[next_ % slots_.size()].assign(bytes.begin(), bytes.end());
    ++next_;
  }
  // The datagram `back` sends ago (0 = newest); empty if there is none.
  std::vector<std::uint8_t> get(std::size_t back) const {
    if (next_ == 0) {
      return {};
    }
    std::size_t have = next_ < slots_.size() ? next_ : slots_.size();
    return slots_[(next_ - 1 - back % have) % slots_.size()];
  }

 private:
  std::array<std::vector<std::uint8_t>, 8> slots_{};
  std::size_t next_ = 0;
};

inline test::TestPki& pki() {
  static test::TestPki p;
  return p;
}

// A fixed origin: the same input always sees the same times.
inline Instant origin() { return Instant{} + seconds(1000); }

}  // namespace vpn::fuzz
