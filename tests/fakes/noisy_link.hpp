#pragma once
// NoisyLink: decides the fate of one datagram on a lossy, reordering, duplicating link, from a
// seeded RNG so every run is reproducible. It returns the delays of the copies that arrive
// (none: lost; two: duplicated). Reordering is an extra random delay on some datagrams, so later
// ones overtake them.
#include <cstdint>
#include <random>
#include <vector>

#include "base/time.hpp"

namespace vpn::test {

struct LinkConfig {
  double loss = 0;       // probability a copy is lost
  double duplicate = 0;  // probability a datagram is sent twice
  double reorder = 0;    // probability a copy gets an extra delay of up to reorder_extra
  Duration delay = milliseconds(10);
  Duration jitter = Duration::zero();
  Duration reorder_extra = milliseconds(30);
};

class NoisyLink {
 public:
  explicit NoisyLink(std::uint64_t seed) : rng_(seed) {}

  std::vector<Duration> transmit(const LinkConfig& cfg);
  std::mt19937_64& rng() { return rng_; }

 private:
  bool chance(double p);
  Duration upTo(Duration d);

  std::mt19937_64 rng_;
};

}  // namespace vpn::test
