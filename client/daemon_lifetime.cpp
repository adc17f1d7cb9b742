// The peer daemon's NAT mapping lifetime edge ([nat] learn_keepalive): after each NAT discovery
// that finds a NAT, measure how long it keeps an idle UDP mapping (LifetimeProbe, against the
// rendezvous the discovery used), and keep the keepalive interval inside it: the configured
// `[tunnel] keepalive` or, when the NAT forgets sooner, a little less than the longest idle time
// its mappings survived.
#include <algorithm>

#include "base/log.hpp"
#include "client/daemon_impl.hpp"

namespace vpn::client {

namespace {

// The interval for a mapping that survived `kept` idle (and died after `lost`, if known): the
// margin covers a keepalive lost on the way and the NAT's own timer granularity.
Duration insideLifetime(std::chrono::seconds kept, std::optional<std::chrono::seconds> lost) {
  if (kept.count() == 0) {
    return lost ? std::max<Duration>(seconds(1), *lost / 3) : seconds(1);
  }
  Duration margin = std::max<Duration>(seconds(2), kept / 5);
  return std::max<Duration>(seconds(1), kept - margin);
}

}  // namespace

void Daemon::Impl::createLifetimeProbe() {
  keepalive_now = cfg.tunnel.keepalive;
  if (!cfg.nat.learn_keepalive) {
    return;
  }
  lifetime_probe = std::make_unique<LifetimeProbe>(
      loop, [this](const protocol::Endpoint& to, std::span<const std::uint8_t> b) { sendStun(to, b); },
      [this](std::span<const std::uint8_t> b) -> std::span<const std::uint8_t> {
        if (!stun_seal) {
          return b;
        }
        std::size_t n = stun_seal->seal(b, lifetime_scratch);
        return std::span<const std::uint8_t>(lifetime_scratch.data(), n);
      },
      [this](std::span<const std::uint8_t> b) -> std::span<const std::uint8_t> {
        if (!stun_seal) {
          return b;
        }
        if (b.size() > lifetime_scratch.size()) {
          return {};
        }
        std::copy(b.begin(), b.end(), lifetime_scratch.begin());
        return stun_seal->open(std::span<std::uint8_t>(lifetime_scratch.data(), b.size()));
      },
      [this](const netcheck::MappingLifetimeResult& r) { onLifetime(r); });
}

void Daemon::Impl::startLifetimeProbe(const netcheck::NetcheckReport& report) {
  if (!lifetime_probe || stopping || !nat_probe_server || !report.public_endpoint) {
    return;
  }
  if (report.behind_nat && !*report.behind_nat) {
    return;  // no NAT in front of us: nothing forgets our mapping
  }
  netcheck::MappingLifetimeConfig mc;
  mc.server = *nat_probe_server;
  mc.sender_public = report.public_endpoint->address();
  lifetime_probe->run(std::move(mc), cfg.listen.address());
}

void Daemon::Impl::onLifetime(const netcheck::MappingLifetimeResult& r) {
  if (stopping) {
    return;
  }
  nat_lifetime = r;
  nat_lifetime_at = Clock::now();
  Duration want = cfg.tunnel.keepalive;
  if (r.state == netcheck::MappingLifetimeResult::State::kDone && r.kept) {
    want = std::min<Duration>(want, insideLifetime(*r.kept, r.lost));
    LOG_INFO("NAT mapping lifetime: idle mappings kept %lld s%s; keepalive every %.1f s",
             static_cast<long long>(r.kept->count()),
             r.lost ? (", gone after " + std::to_string(r.lost->count()) + " s").c_str() : " or more",
             std::chrono::duration<double>(want).count());
  } else {
    LOG_INFO("NAT mapping lifetime not measured: %s", r.note.c_str());
  }
  if (want != keepalive_now) {
    keepalive_now = want;
    engine->setKeepaliveInterval(Clock::now(), want);
    afterEvent();
  }
}

}  // namespace vpn::client
