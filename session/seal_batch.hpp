#pragma once
// SealBatch: the data packets of one TUN read (up to 64 KiB with TSO, about 45 tunnel packets),
// sealed on every core at once before the batch leaves as one sendmmsg.
//
// How the work is split, and why order and state stay safe:
//  - The engine, on the loop thread, does everything stateful for each packet as before: routing,
//    the counter and key phase (the header is written), the path. Only the AEAD itself, which
//    needs nothing but the key, the counter and the bytes, is left to do (EngineSink::
//    sendSealLater): the packet is already in its UDP send slot, in send order.
//  - run() seals all of them: base::BatchPool gives each lane a contiguous range, and each lane
//    uses its own OpenSSL context of the key (crypto::AeadCipher lanes). Nothing is sent until
//    every packet is sealed (the transport calls run() at the start of each flush), so packets
//    leave in the order the engine made them: one flow's packets are never reordered.
//  - Keys: a ticket's cipher lives until the engine replaces it; the engine calls
//    completeSeals() (run()) first, and the daemon runs the batch before it calls the engine for
//    anything but a TUN packet.
// Per packet: no lock, no allocation (the job list is reserved once; a key's lanes are made on
// its first batch). Per batch: one wake-up of the worker threads, and none below min_parallel
// packets (they are sealed on the loop thread).
// Ownership: owns its worker threads. Threading: add() and run() on the loop thread only.
// Errors: a packet that cannot be sealed (OpenSSL failure) is zeroed, never sent in the clear,
// and counted in failures(); the constructor throws std::system_error if a thread cannot start.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/batch_pool.hpp"
#include "session/data_keys.hpp"

namespace vpn::session {

class SealBatch {
 public:
  // lanes: threads sealing at once, the caller's included (1: all on the loop thread).
  // capacity: the most packets queued between two runs (the UDP send queue's length).
  SealBatch(std::size_t lanes, std::size_t capacity);

  // Queues `packet` ([header | payload_len bytes in the clear | room for the tag]) to be sealed
  // with `ticket`. If the queue is full, the queued packets are sealed first.
  void add(std::span<std::uint8_t> packet, std::size_t payload_len,
           const SealTicket& ticket);
  // Seals every queued packet; returns when all are done.
  void run();

  std::size_t lanes() const { return pool_.lanes(); }
  std::size_t queued() const { return jobs_.size(); }
  std::uint64_t sealed() const { return sealed_; }
  std::uint64_t batches() const { return batches_; }
  std::uint64_t parallelBatches() const { return pool_.parallelBatches(); }
  std::uint64_t failures() const { return failures_; }

 private:
  struct Job {
    crypto::AeadCipher* cipher;
    std::uint64_t counter;
    std::uint8_t* packet;
    std::size_t payload_len;
    bool lanes_ok;  // the cipher has a context for every lane
  };

  base::BatchPool pool_;
  std::size_t capacity_;
  std::vector<Job> jobs_;
  std::vector<std::uint8_t> failed_;  // per job, set by the lane that sealed it
  std::uint64_t sealed_ = 0;
  std::uint64_t batches_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace vpn::session
