// UDP GSO and GRO in UvUdpTransport, on loopback (the kernel keeps a GSO run whole on its way to
// a GRO socket): equal-sized datagrams to one destination leave as one entry and arrive split
// again, intact and in order; a run ends at a shorter datagram or another destination; with
// the offloads refused, or on a receiver without GRO, the same traffic arrives the same way.
#include <gtest/gtest.h>

#include <vector>

#include "loop_fixture.hpp"
#include "net/udp_transport.hpp"

namespace vpn::net::test {
namespace {

using protocol::Endpoint;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

// Datagram `index` of `size` bytes: its index in the first two bytes, then a pattern.
std::vector<std::uint8_t> numbered(std::size_t index, std::size_t size) {
  std::vector<std::uint8_t> v(size);
  for (std::size_t i = 0; i < size; ++i) {
    v[i] = static_cast<std::uint8_t>((index * 13 + i * 5) & 0xff);
  }
  v[0] = static_cast<std::uint8_t>(index >> 8);
  v[1] = static_cast<std::uint8_t>(index & 0xff);
  return v;
}

struct Collected {
  std::vector<std::vector<std::uint8_t>> datagrams;
  std::vector<Endpoint> from;
  ReceiveHandler handler() {
    return [this](std::span<ReceivedDatagram> batch) {
      for (auto& d : batch) {
        datagrams.emplace_back(d.data.begin(), d.data.end());
        from.push_back(d.from);
      }
    };
  }
};

class UdpOffloadTest : public LoopTest {
 protected:
  // Sends `count` datagrams of `size` bytes (every `short_every`-th one shorter) from a to b in
  // one flush, and checks they all arrive intact and in order.
  void sendAndCheck(UvUdpTransport& a, UvUdpTransport& b, Collected& rx, std::size_t count,
                    std::size_t size, std::size_t short_every = 0) {
    std::vector<std::vector<std::uint8_t>> sent;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t n = short_every != 0 && i % short_every == short_every - 1 ? size / 2 : size;
      sent.push_back(numbered(i, n));
      a.send(b.localEndpoint(), sent.back());  // a full batch flushes by itself
    }
    a.flush();
    ASSERT_TRUE(runUntil([&] { return rx.datagrams.size() >= count; }));
    ASSERT_EQ(rx.datagrams.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(rx.datagrams[i], sent[i]) << "datagram " << i;
      EXPECT_EQ(rx.from[i], a.localEndpoint());
    }
  }
};

TEST_F(UdpOffloadTest, EqualSizedRunsLeaveAsOneEntryAndArriveSplit) {
  Collected rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx.handler());
  if (!a->offloads().gso || !b->offloads().gro) {
    GTEST_SKIP() << "this kernel lacks UDP GSO or GRO";
  }
  sendAndCheck(*a, *b, rx, 200, 1429);
  auto as = a->stats();
  auto bs = b->stats();
  EXPECT_EQ(as.tx_packets, 200u);
  EXPECT_EQ(as.tx_gso_datagrams, 200u);  // runs of up to 45 (65000 / 1429 bytes)
  EXPECT_GE(as.tx_gso_sends, 200u / 45);
  EXPECT_LE(as.tx_gso_sends, 8u);
  EXPECT_EQ(bs.rx_packets, 200u);
  EXPECT_GT(bs.rx_gro_reads, 0u);
  EXPECT_EQ(bs.rx_bytes, as.tx_bytes);
}

TEST_F(UdpOffloadTest, AShorterDatagramEndsARunAndAnotherDestinationStartsOne) {
  Collected rx1, rx2;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx1.handler());
  auto c = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx2.handler());
  if (!a->offloads().gso) {
    GTEST_SKIP() << "this kernel lacks UDP GSO";
  }
  // Every 5th datagram is shorter: runs of 5 (four full, one short closing the run).
  sendAndCheck(*a, *b, rx1, 50, 1000, 5);
  EXPECT_EQ(a->stats().tx_gso_sends, 10u);
  // Alternating destinations: no two neighbours share one, so no run at all.
  for (std::size_t i = 0; i < 20; ++i) {
    a->send((i % 2 == 0 ? b : c)->localEndpoint(), numbered(i, 800));
  }
  a->flush();
  ASSERT_TRUE(runUntil([&] { return rx1.datagrams.size() >= 60 && rx2.datagrams.size() >= 10; }));
  EXPECT_EQ(a->stats().tx_gso_sends, 10u);
  EXPECT_EQ(rx2.datagrams[3], numbered(7, 800));
}

TEST_F(UdpOffloadTest, RefusedOffloadsCarryTheSameTraffic) {
  Collected rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {}, {false, false});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx.handler(), {false, false});
  EXPECT_EQ(a->offloads(), (UdpOffloads{false, false}));
  sendAndCheck(*a, *b, rx, 200, 1429);
  EXPECT_EQ(a->stats().tx_gso_sends, 0u);
  EXPECT_EQ(b->stats().rx_gro_reads, 0u);
  EXPECT_GE(a->stats().tx_batches, 200u / UvUdpTransport::kBatch);
}

TEST_F(UdpOffloadTest, GsoSenderToAReceiverWithoutGro) {
  Collected rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx.handler(), {true, false});
  EXPECT_FALSE(b->offloads().gro);
  sendAndCheck(*a, *b, rx, 120, 1200);  // the kernel segments for a socket without GRO
  EXPECT_EQ(b->stats().rx_gro_reads, 0u);
}

TEST_F(UdpOffloadTest, GroReceiverFromAPlainSender) {
  Collected rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {}, {false, true});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, rx.handler());
  sendAndCheck(*a, *b, rx, 120, 1200);
  EXPECT_EQ(b->stats().rx_packets, 120u);
  EXPECT_EQ(a->stats().tx_gso_sends, 0u);
}

}  // namespace
}  // namespace vpn::net::test
