// The peer daemon's worker threads ([tunnel] workers): starting them, handing the engine's
// packets to session::AeadBatch for sealing, and opening a received batch ahead of the engine.
#include <algorithm>
#include <system_error>
#include <thread>

#include "base/log.hpp"
#include "client/daemon_impl.hpp"

namespace vpn::client {

// The threads that seal and open ([tunnel] workers), started after dropRoot so they hold no
// more privilege than the loop (capabilities are per thread).
void Daemon::Impl::startSealing() {
  // The default leaves half the cores to the kernel's share of the packet work and to the
  // applications: on 2 cores, threads of both ends and iperf3 competing for them bought nothing
  // and cost CPU (bench/README.md, "Worker threads").
  std::size_t lanes = cfg.tunnel.workers > 0 ? static_cast<std::size_t>(cfg.tunnel.workers)
                                             : std::max(1u, std::thread::hardware_concurrency() / 2);
  try {
    aead_batch = std::make_unique<session::AeadBatch>(lanes, net::UvUdpTransport::kSendQueue);
  } catch (const std::system_error& e) {
    LOG_WARN("cannot start %zu worker threads (%s); sealing on the loop thread", lanes, e.what());
    aead_batch = std::make_unique<session::AeadBatch>(1, net::UvUdpTransport::kSendQueue);
  }
  udp->setBeforeFlush([this] { completeSeals(); });
  open_plans.reserve(aead_batch->capacity());
  LOG_INFO("sealing and opening on %zu thread(s)", aead_batch->lanes());
}

// With two or more threads, the data packets of a received batch are opened on all of them
// first (session/aead_batch.hpp); the engine then takes every datagram in arrival order.
void Daemon::Impl::planOpens(std::span<net::ReceivedDatagram> batch) {
  open_plans.clear();
  if (!aead_batch || aead_batch->lanes() < 2 || batch.size() < 2) {
    return;
  }
  for (std::size_t i = 0; i < batch.size() && open_plans.size() < open_plans.capacity(); ++i) {
    if (auto t = engine->planOpen(batch[i].from, batch[i].data)) {
      std::size_t job = aead_batch->addOpen(batch[i].data, *t);
      if (job >= aead_batch->capacity()) {
        break;  // full: the rest are opened by the engine itself
      }
      open_plans.push_back(OpenPlan{i, job, *t});
    }
  }
  if (!open_plans.empty()) {
    aead_batch->run();
  }
}

void Daemon::Impl::sendSealLater(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes,
                                 const DeferredSeal& seal) {
  auto slot = udp->reserve(to, bytes.size());
  if (slot.size() != bytes.size() || bytes.size() < seal.offset) {
    return;  // not queued (the transport counts it)
  }
  std::copy(bytes.begin(), bytes.end(), slot.begin());
  aead_batch->addSeal(slot.subspan(seal.offset), seal.payload_len, seal.ticket);
}

void Daemon::Impl::completeSeals() {
  if (aead_batch) {
    aead_batch->run();
  }
}

}  // namespace vpn::client
