#include "session/aead_batch.hpp"

#include <algorithm>
#include <cstring>

#include "protocol/data_packet.hpp"

namespace vpn::session {

AeadBatch::AeadBatch(std::size_t lanes, std::size_t capacity)
    : pool_(lanes), capacity_(std::max<std::size_t>(capacity, 1)) {
  jobs_.reserve(capacity_);
  result_.assign(capacity_, 0);
}

// Lanes are made here, on the loop thread, while no lane runs (AeadCipher's rule).
bool AeadBatch::lanesFor(crypto::AeadCipher& cipher) {
  return cipher.lanes() >= pool_.lanes() || cipher.prepareLanes(pool_.lanes());
}

void AeadBatch::addSeal(std::span<std::uint8_t> packet, std::size_t payload_len,
                        const SealTicket& ticket) {
  if (jobs_.size() == capacity_) {
    run();
  }
  done_ = 0;
  bool ok = lanesFor(*ticket.cipher);
  jobs_.push_back(Job{ticket.cipher, ticket.counter, packet.data(), payload_len, true, ok});
}

std::size_t AeadBatch::addOpen(std::span<std::uint8_t> packet, const SealTicket& ticket) {
  done_ = 0;
  if (jobs_.size() == capacity_ || packet.size() < protocol::kDataOverhead) {
    return capacity_;  // never reported as opened
  }
  bool ok = lanesFor(*ticket.cipher);
  jobs_.push_back(Job{ticket.cipher, ticket.counter, packet.data(),
                      packet.size() - protocol::kDataOverhead, false, ok});
  return jobs_.size() - 1;
}

void AeadBatch::run() {
  const std::size_t n = jobs_.size();
  if (n == 0) {
    return;
  }
  bool all_lanes = std::all_of(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.lanes_ok; });
  auto work = [this](std::size_t lane, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const Job& j = jobs_[i];
      std::span<std::uint8_t> packet(j.packet, protocol::kDataOverhead + j.payload_len);
      auto aad = packet.first(protocol::kDataHeaderSize);
      auto data = packet.subspan(protocol::kDataHeaderSize, j.payload_len);
      auto tag = packet.subspan(protocol::kDataHeaderSize + j.payload_len)
                     .first<crypto::kTagSize>();
      bool ok = j.seal ? j.cipher->sealOn(lane, j.counter, aad, data, tag)
                       : j.cipher->openOn(lane, j.counter, aad, data, tag);
      if (!ok && j.seal) {
        std::memset(data.data(), 0, j.payload_len + crypto::kTagSize);  // never in the clear
      }
      result_[i] = ok ? 1 : 0;
    }
  };
  if (all_lanes) {
    pool_.run(n, work);
  } else {
    work(0, 0, n);  // a key without its lanes: all on the loop thread this time
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (jobs_[i].seal) {
      ++sealed_;
      seal_failures_ += result_[i] == 0 ? 1u : 0u;
    } else {
      ++opened_total_;
    }
  }
  ++batches_;
  done_ = n;
  jobs_.clear();
}

}  // namespace vpn::session
