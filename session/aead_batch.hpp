#pragma once
// AeadBatch: the AEAD work of one batch of data packets done on every core at once: the packets
// of one TUN read (up to 64 KiB with TSO, about 45 tunnel packets) sealed before they leave as
// one sendmmsg, or the datagrams of one recvmmsg opened before the engine takes them in order.
//
// How the work is split, and why order and state stay safe:
//  - The engine, on the loop thread, does everything stateful for each packet: routing, the
//    counter and key phase, the replay window, the path. Only the AEAD itself, which needs
//    nothing but the key, the counter and the bytes, is done here.
//  - Sealing: the engine writes each packet, header and clear payload, into its UDP send slot in
//    order and hands over the key and counter (EngineSink::sendSealLater, DataKeys::sealLater).
//    Nothing is sent until every packet is sealed (the transport calls run() at the start of
//    each flush), so packets leave in the order the engine made them: a flow is never reordered.
//  - Opening: the daemon asks the engine which received datagrams it would open with which key
//    (Engine::planOpen, DataKeys::planOpen: nothing changes), opens those here, then hands every
//    datagram to the engine in arrival order with the result (DataKeys::open with PreOpened),
//    which checks the replay window and the key again and does the rest.
//  - run() splits the jobs with base::BatchPool; each thread uses its own OpenSSL context of the
//    key (crypto::AeadCipher lanes, made on the loop thread the first time a key is queued).
//  - Keys: a ticket's cipher lives until the engine replaces or drops it. The engine calls
//    completeSeals() (run()) before it replaces a send key; the daemon runs a batch before it
//    calls the engine for anything else.
// Per packet: no lock, no allocation (the job list is reserved once). Per batch: one wake-up of
// the worker threads, and none below BatchPool's min_parallel jobs.
// Ownership: owns its worker threads; holds pointers to the packets until run() returns.
// Threading: add*(), run() and the accessors on the loop thread only.
// Errors: a packet that cannot be sealed (OpenSSL failure) is zeroed, never sent in the clear,
// and counted in sealFailures(); a datagram that does not open is the engine's to count
// (opened(job) is false). The constructor throws std::system_error if a thread cannot start.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/batch_pool.hpp"
#include "session/data_keys.hpp"

namespace vpn::session {

class AeadBatch {
 public:
  // lanes: threads working at once, the caller's included (1: all on the loop thread).
  // capacity: the most jobs queued between two runs (the UDP send queue's length).
  AeadBatch(std::size_t lanes, std::size_t capacity);

  // Queues `packet` ([header | payload_len bytes in the clear | room for the tag]) to be sealed
  // with `ticket`. If the queue is full, the queued jobs run first.
  void addSeal(std::span<std::uint8_t> packet, std::size_t payload_len, const SealTicket& ticket);
  // Queues a received data packet (header, ciphertext, tag) to be opened in place with `ticket`;
  // returns its job number for opened(). The queue must not be full (capacity).
  std::size_t addOpen(std::span<std::uint8_t> packet, const SealTicket& ticket);
  // Runs every queued job; returns when all are done.
  void run();
  // After run(), until the next add: whether open job `job` authenticated.
  bool opened(std::size_t job) const { return job < done_ && result_[job] != 0; }

  std::size_t lanes() const { return pool_.lanes(); }
  std::size_t queued() const { return jobs_.size(); }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t sealed() const { return sealed_; }
  std::uint64_t openedTotal() const { return opened_total_; }
  std::uint64_t batches() const { return batches_; }
  std::uint64_t parallelBatches() const { return pool_.parallelBatches(); }
  std::uint64_t sealFailures() const { return seal_failures_; }

 private:
  struct Job {
    crypto::AeadCipher* cipher;
    std::uint64_t counter;
    std::uint8_t* packet;
    std::size_t payload_len;
    bool seal;
    bool lanes_ok;  // the cipher has a context for every lane
  };
  bool lanesFor(crypto::AeadCipher& cipher);

  base::BatchPool pool_;
  std::size_t capacity_;
  std::vector<Job> jobs_;
  std::vector<std::uint8_t> result_;  // per job: 1 if it succeeded (written by its lane)
  std::size_t done_ = 0;              // jobs of the last run whose results are valid
  std::uint64_t sealed_ = 0;
  std::uint64_t opened_total_ = 0;
  std::uint64_t batches_ = 0;
  std::uint64_t seal_failures_ = 0;
};

}  // namespace vpn::session
