#include "client/nat_probe.hpp"

#include <uv.h>

#include "crypto/random.hpp"

namespace vpn::client {

NatProbe::NatProbe(uv_loop_s& loop, Send send, Done done)
    : send_(std::move(send)), done_(std::move(done)), timer_(loop, [this] { pump(Clock::now()); }) {}

NatProbe::~NatProbe() = default;

void NatProbe::run(const protocol::Endpoint& server, std::optional<protocol::Endpoint> local) {
  netcheck::NatDiscoveryConfig cfg;
  cfg.server = server;
  cfg.local = local;
  cfg.software = "vpnpeer";
  discovery_ = std::make_unique<netcheck::NatDiscovery>(cfg, [] {
    protocol::StunTransactionId id{};
    crypto::randomBytes(id);
    return id;
  });
  Instant now = Clock::now();
  discovery_->start(now);
  pump(now);
}

void NatProbe::onDatagram(Instant now, const protocol::Endpoint& from,
                          std::span<const std::uint8_t> bytes) {
  if (!discovery_) {
    return;
  }
  discovery_->onDatagram(now, from, bytes);
  pump(now);
}

void NatProbe::pump(Instant now) {
  if (!discovery_) {
    return;
  }
  if (auto at = discovery_->nextDeadline(); at && *at <= now) {
    discovery_->onTimer(now);
  }
  for (auto& out : discovery_->takeOutgoing()) {
    send_(out.to, out.bytes);
  }
  if (discovery_->done()) {
    // Move out first: done_ may start a new run.
    auto finished = std::move(discovery_);
    timer_.cancel();
    done_(finished->report().nat_type, finished->report());
    return;
  }
  auto next = discovery_->nextDeadline();
  timer_.armAt(next ? *next : kNever);
}

}  // namespace vpn::client
