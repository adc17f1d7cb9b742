#include "session/seal_batch.hpp"

#include <algorithm>
#include <cstring>

#include "protocol/data_packet.hpp"

namespace vpn::session {

SealBatch::SealBatch(std::size_t lanes, std::size_t capacity)
    : pool_(lanes), capacity_(std::max<std::size_t>(capacity, 1)) {
  jobs_.reserve(capacity_);
  failed_.assign(capacity_, 0);
}

void SealBatch::add(std::span<std::uint8_t> packet, std::size_t payload_len,
                    const SealTicket& ticket) {
  if (jobs_.size() == capacity_) {
    run();
  }
  // Lanes are made here, on the loop thread, while no lane runs (AeadCipher's rule).
  bool lanes_ok = ticket.cipher->lanes() >= pool_.lanes() || ticket.cipher->prepareLanes(pool_.lanes());
  jobs_.push_back(Job{ticket.cipher, ticket.counter, packet.data(), payload_len, lanes_ok});
}

void SealBatch::run() {
  const std::size_t n = jobs_.size();
  if (n == 0) {
    return;
  }
  bool all_lanes = std::all_of(jobs_.begin(), jobs_.begin() + static_cast<std::ptrdiff_t>(n),
                               [](const Job& j) { return j.lanes_ok; });
  auto seal = [this](std::size_t lane, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const Job& j = jobs_[i];
      std::span<std::uint8_t> packet(j.packet, protocol::kDataOverhead + j.payload_len);
      auto aad = packet.first(protocol::kDataHeaderSize);
      auto data = packet.subspan(protocol::kDataHeaderSize, j.payload_len);
      auto tag = packet.subspan(protocol::kDataHeaderSize + j.payload_len)
                     .first<crypto::kTagSize>();
      bool ok = j.cipher->sealOn(lane, j.counter, aad, data, tag);
      if (!ok) {
        std::memset(packet.data() + protocol::kDataHeaderSize, 0, j.payload_len +
                                                                      crypto::kTagSize);
      }
      failed_[i] = ok ? 0 : 1;
    }
  };
  if (all_lanes) {
    pool_.run(n, seal);
  } else {
    seal(0, 0, n);  // a key without its lanes: all on the loop thread this time
  }
  for (std::size_t i = 0; i < n; ++i) {
    failures_ += failed_[i];
  }
  sealed_ += n;
  ++batches_;
  jobs_.clear();
}

}  // namespace vpn::session
