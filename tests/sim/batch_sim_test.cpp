// Sealing and opening in batches on worker threads, as the daemon does with [tunnel] workers
// above 1 (session/aead_batch.hpp), with two engines on an in-process network and a virtual
// clock: order across key updates, and a received batch with a replay, a forgery and a key update
// in it. No sleeps; every loop is bounded.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "client/engine/engine.hpp"
#include "protocol/data_packet.hpp"
#include "session/aead_batch.hpp"
#include "tests/fakes/inner_packets.hpp"
#include "tests/fakes/sim_network.hpp"
#include "tests/sim/two_peers.hpp"

namespace vpn::test {
namespace {

// Sealing in batches, as the daemon does with [tunnel] workers = 2: alice hands each batch of 40
// packets over for sealing on two threads, with key updates every 300 packets, so updates fall
// inside batches (the engine must have the batch sealed before it replaces the key). Everything
// arrives once, in the order sent (the link does not reorder), and nothing fails to open.
TEST(EngineSim, BatchSealingOnTwoThreadsKeepsOrderAcrossKeyUpdates) {
  LinkConfig l;
  l.delay = milliseconds(5);
  TwoPeers t(6, l);
  t.opts_a.rekey_after_packets = 300;
  t.opts_b.rekey_after_packets = 170;
  t.a.sealInBatches(2);
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  constexpr std::uint64_t kBatches = 100, kPerBatch = 40;
  std::uint64_t seq = 0;
  for (std::uint64_t b = 0; b < kBatches; ++b) {
    std::vector<std::vector<std::uint8_t>> batch;
    for (std::uint64_t i = 0; i < kPerBatch; ++i) {
      batch.push_back(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(seq++)));
    }
    t.a.sendTunBatch(batch);
    t.b.sendTun(makeIpv4("10.42.0.2", "10.42.0.1", numberedPayload(b)));
    t.net.runFor(milliseconds(20));
  }
  t.net.runFor(seconds(1));
  ASSERT_EQ(t.b.tun.size(), kBatches * kPerBatch);
  for (std::uint64_t i = 0; i < t.b.tun.size(); ++i) {
    ASSERT_EQ(sequenceOfIpv4(t.b.tun[i]), i) << "packet " << i << " out of order";
  }
  EXPECT_EQ(t.a.tun.size(), kBatches);
  EXPECT_GE(t.bobAtAlice().key_updates, 10u);
  EXPECT_EQ(t.b.status().drop("auth_failed"), 0u);
  EXPECT_EQ(t.b.status().drop("replay"), 0u);
  const session::AeadBatch* sb = t.a.sealBatch();
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->sealed(), kBatches * kPerBatch);
  EXPECT_GT(sb->parallelBatches(), 0u);
  EXPECT_EQ(sb->sealFailures(), 0u);
}

// Opening in batches, as the daemon does with two or more threads: bob takes a batch of alice's
// packets that spans a key update, with a duplicate, a forged one and an old-phase packet arriving
// after the first of the new phase. Those the engine plans are opened on two threads first; the
// engine then takes all in order. Each genuine packet arrives once, the duplicate counts as a
// replay, the forgery as an authentication failure, and the late old-phase packet (planned with
// the key that has become the previous one) still opens.
TEST(EngineSim, BatchOpeningOnTwoThreadsHandlesReplayForgeryAndAKeyUpdate) {
  TwoPeers t;
  t.opts_a.rekey_after_packets = 50;
  t.start();
  ASSERT_TRUE(t.waitEstablished());
  t.expectDataFlows(1);
  t.b.tun.clear();
  Tap tap(t.net, t.ep_a);
  t.net.cutOneWay(t.ep_a, t.ep_b, true);  // captured, not delivered
  constexpr std::uint64_t kPackets = 120;
  for (std::uint64_t i = 0; i < kPackets; ++i) {
    t.a.sendTun(makeIpv4("10.42.0.1", "10.42.0.2", numberedPayload(1000 + i)));
  }
  t.net.runFor(milliseconds(10));
  ASSERT_EQ(tap.data.size(), kPackets);
  auto phase = [](const Datagram& d) { return protocol::parseDataHeader(d.bytes)->key_phase; };
  std::size_t flip = 0;
  while (flip < tap.data.size() && phase(tap.data[flip]) == phase(tap.data[0])) {
    ++flip;
  }
  ASSERT_GT(flip, 10u);
  ASSERT_LT(flip + 2, tap.data.size()) << "no key update among the packets";

  std::vector<std::vector<std::uint8_t>> batch;
  for (std::size_t i = 0; i < tap.data.size(); ++i) {
    if (i == flip - 1) {
      continue;  // the last old-phase packet arrives after the first new-phase one
    }
    batch.push_back(tap.data[i].bytes);
    if (i == flip) {
      batch.push_back(tap.data[flip - 1].bytes);
    }
    if (i == 20) {
      batch.push_back(tap.data[10].bytes);  // a duplicate
    }
  }
  batch[30].back() ^= 0x01;  // a forged tag

  session::AeadBatch opener(2, 256);
  struct Plan {
    std::size_t job;
    session::SealTicket ticket;
  };
  std::vector<std::optional<Plan>> plans(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (auto ticket = t.b.engine().planOpen(t.ep_a, batch[i])) {
      plans[i] = Plan{opener.addOpen(batch[i], *ticket), *ticket};
    }
  }
  opener.run();
  std::size_t planned = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (plans[i]) {
      ++planned;
      t.b.engine().onDatagramOpened(t.clock.now(), t.ep_a, batch[i],
                                    session::PreOpened{plans[i]->ticket,
                                                       opener.opened(plans[i]->job)});
    } else {
      t.b.engine().onDatagram(t.clock.now(), t.ep_a, batch[i]);
    }
  }
  EXPECT_GE(planned, flip);  // the old phase, the duplicate and the forgery among them
  EXPECT_LT(planned, batch.size());  // the new phase only after the engine rotated its keys
  EXPECT_GT(opener.parallelBatches(), 0u);
  std::map<std::uint64_t, int> seen;
  for (const auto& p : t.b.tun) {
    seen[sequenceOfIpv4(p)]++;
  }
  EXPECT_EQ(t.b.tun.size(), kPackets - 1);  // all but the forged one, each once
  for (const auto& [seq, n] : seen) {
    EXPECT_EQ(n, 1) << seq;
  }
  EXPECT_EQ(seen.count(1000 + flip - 1), 1u) << "the late old-phase packet";
  EXPECT_EQ(t.b.status().drop("replay"), 1u);
  EXPECT_EQ(t.b.status().drop("auth_failed"), 1u);
  EXPECT_EQ(t.aliceAtBob().key_updates, 1u);
}

}  // namespace
}  // namespace vpn::test
