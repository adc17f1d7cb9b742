#include "tests/fakes/noisy_link.hpp"

namespace vpn::test {

bool NoisyLink::chance(double p) {
  return p > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
}

Duration NoisyLink::upTo(Duration d) {
  if (d <= Duration::zero()) {
    return Duration::zero();
  }
  return Duration(std::uniform_int_distribution<Duration::rep>(0, d.count())(rng_));
}

std::vector<Duration> NoisyLink::transmit(const LinkConfig& cfg) {
  std::vector<Duration> out;
  int copies = chance(cfg.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    if (chance(cfg.loss)) {
      continue;
    }
    Duration d = cfg.delay + upTo(cfg.jitter);
    if (chance(cfg.reorder)) {
      d += upTo(cfg.reorder_extra);
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace vpn::test
