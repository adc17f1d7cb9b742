#pragma once
// Shared by the path simulations (path_sim_test, path_fallback_sim_test): a pair of peers
// behind two simulated NATs, numbered pings both ways with their arrival times, and a dump of
// every peer's view (PATH_DUMP=1). Test-only; single-threaded, on the PunchWorld's virtual clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "client/engine/path.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/sim/punch_harness.hpp"

namespace vpn::test {

// Numbered pings both ways at a fixed interval, with the arrival time of each (to the interval).
class PingStream {
 public:
  PingStream(PunchWorld& w, PunchPeer& a, PunchPeer& b) : w_(w), a_(a), b_(b) {}

  void run(Duration d, Duration interval = milliseconds(50)) {
    Instant end = w_.clock.now() + d;
    while (w_.clock.now() < end) {
      std::uint64_t seq = next_++;
      a_.node->sendTun(makeIpv4(a_.overlay, b_.overlay, numberedPayload(seq)));
      b_.node->sendTun(makeIpv4(b_.overlay, a_.overlay, numberedPayload(seq)));
      sent_[seq] = w_.clock.now();
      w_.net.runFor(interval);
      collect(b_, got_ab_);
      collect(a_, got_ba_);
    }
  }
  // Sent in [from, to) and never arrived, one direction.
  std::size_t lostAb(Instant from, Instant to) const { return lost(got_ab_, from, to); }
  std::size_t lostBa(Instant from, Instant to) const { return lost(got_ba_, from, to); }
  // The longest wait, after `from`, between a packet's send and the next arrival (one direction).
  Duration gapAb(Instant from) const { return gap(got_ab_, from); }
  Duration gapBa(Instant from) const { return gap(got_ba_, from); }
  std::size_t sent() const { return sent_.size(); }
  std::size_t receivedAb() const { return got_ab_.size(); }
  std::size_t receivedBa() const { return got_ba_.size(); }
  std::size_t duplicates() const { return duplicates_; }  // inner packets delivered twice

 private:
  void collect(PunchPeer& at, std::map<std::uint64_t, Instant>& got) {
    for (const auto& p : at.node->tun) {
      if (!got.emplace(sequenceOfIpv4(p), w_.clock.now()).second) {
        ++duplicates_;
      }
    }
    at.node->tun.clear();
  }
  std::size_t lost(const std::map<std::uint64_t, Instant>& got, Instant from, Instant to) const {
    std::size_t n = 0;
    for (const auto& [seq, at] : sent_) {
      if (at >= from && at < to && got.count(seq) == 0) {
        ++n;
      }
    }
    return n;
  }
  Duration gap(const std::map<std::uint64_t, Instant>& got, Instant from) const {
    Instant last = from;
    Duration worst{};
    for (const auto& [seq, at] : got) {
      if (at < from) {
        continue;
      }
      worst = std::max(worst, at - last);
      last = at;
    }
    return std::max(worst, w_.clock.now() - last);
  }

  PunchWorld& w_;
  PunchPeer& a_;
  PunchPeer& b_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, Instant> sent_;
  std::map<std::uint64_t, Instant> got_ab_, got_ba_;
  std::size_t duplicates_ = 0;
};

// PATH_DUMP=1 prints every peer's view at the end of a test.
inline void dump(PunchWorld& w) {
  if (std::getenv("PATH_DUMP") != nullptr) {
    std::printf("%s\n", w.describe().c_str());
  }
}

inline std::size_t countEvents(const client::PeerStatus& ps, const std::string& to) {
  return static_cast<std::size_t>(std::count_if(ps.history.begin(), ps.history.end(),
                                                [&](const client::PathEvent& e) { return e.to == to; }));
}

// A pair behind two NATs of the given types, started.
struct Pair {
  explicit Pair(NatType ta, NatType tb, std::uint64_t seed = 1) : w(seed) {
    nat_a = &w.addNat(ta, 1);
    nat_b = &w.addNat(tb, 2);
    alice = &w.addPeer("alice", "10.42.0.1", parseEp("10.0.1.2:51820"));
    bob = &w.addPeer("bob", "10.42.0.2", parseEp("10.0.2.2:51820"));
  }
  client::PeerStatus bobAtAlice() { return w.peerStatus(*alice, "bob"); }
  client::PeerStatus aliceAtBob() { return w.peerStatus(*bob, "alice"); }
  bool paths(const std::string& at_alice, const std::string& at_bob) {
    return bobAtAlice().path == at_alice && aliceAtBob().path == at_bob;
  }

  PunchWorld w;
  SimulatedNat* nat_a = nullptr;
  SimulatedNat* nat_b = nullptr;
  PunchPeer* alice = nullptr;
  PunchPeer* bob = nullptr;
};

}  // namespace vpn::test
