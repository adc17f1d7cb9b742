#include "net/udp_transport.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "loop_fixture.hpp"

namespace vpn::net::test {
namespace {

using protocol::Endpoint;
using protocol::IpAddress;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

struct Received {
  std::vector<std::pair<Endpoint, std::vector<std::uint8_t>>> datagrams;
  std::vector<std::size_t> batch_sizes;
  ReceiveHandler handler() {
    return [this](std::span<ReceivedDatagram> batch) {
      batch_sizes.push_back(batch.size());
      for (auto& d : batch) {
        datagrams.emplace_back(d.from, std::vector<std::uint8_t>(d.data.begin(), d.data.end()));
      }
    };
  }
};

std::vector<std::uint8_t> pattern(std::size_t index, std::size_t size) {
  std::vector<std::uint8_t> v(size);
  for (std::size_t i = 0; i < size; ++i) {
    v[i] = static_cast<std::uint8_t>((index * 31 + i * 7) & 0xff);
  }
  v[0] = static_cast<std::uint8_t>(index >> 8);
  if (size > 1) {
    v[1] = static_cast<std::uint8_t>(index & 0xff);
  }
  return v;
}

std::size_t sizeFor(std::size_t i) { return 2 + (i * 97) % 1450; }

class UdpTransportTest : public LoopTest {};

TEST_F(UdpTransportTest, TwoHundredDatagramsArriveIntactInBatches) {
  Received rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 2048, [](auto) {});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 2048, rx.handler());
  ASSERT_NE(b->localEndpoint().port(), 0);
  EXPECT_EQ(b->localEndpoint().address(), *IpAddress::parse("127.0.0.1"));
  constexpr std::size_t kCount = 200;
  for (std::size_t i = 0; i < kCount; ++i) {
    a->send(b->localEndpoint(), pattern(i, sizeFor(i)));
  }
  a->flush();
  EXPECT_EQ(a->queued(), 0u);
  ASSERT_TRUE(runUntil([&] { return rx.datagrams.size() >= kCount; }));

  std::map<std::size_t, std::vector<std::uint8_t>> by_index;
  for (auto& [from, bytes] : rx.datagrams) {
    EXPECT_EQ(from, a->localEndpoint());
    ASSERT_GE(bytes.size(), 2u);
    by_index[std::size_t{bytes[0]} << 8 | bytes[1]] = bytes;
  }
  ASSERT_EQ(by_index.size(), kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(by_index[i], pattern(i, sizeFor(i))) << "datagram " << i;
  }
  std::size_t max_batch = 0;
  for (auto n : rx.batch_sizes) {
    max_batch = std::max(max_batch, n);
  }
  EXPECT_GT(max_batch, 1u) << "recvmmsg should hand over several datagrams per batch";
  // With GRO one received entry may hold a run of datagrams, split before the handler.
  EXPECT_LE(max_batch, UvUdpTransport::kBatch *
                           (b->offloads().gro ? UvUdpTransport::kMaxGsoSegments : 1));

  auto as = a->stats();
  auto bs = b->stats();
  EXPECT_EQ(as.tx_packets, kCount);
  EXPECT_LE(as.tx_batches, 8u);  // sendmmsg, 64 at a time
  EXPECT_EQ(as.tx_dropped, 0u);
  EXPECT_EQ(bs.rx_packets, kCount);
  EXPECT_EQ(bs.rx_batches, rx.batch_sizes.size());
  EXPECT_EQ(as.tx_bytes, bs.rx_bytes);
}

TEST_F(UdpTransportTest, ReplyToSourceEndpoint) {
  Received at_a;
  std::unique_ptr<UvUdpTransport> b;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, at_a.handler());
  b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [&](std::span<ReceivedDatagram> batch) {
    for (auto& d : batch) {
      for (auto& byte : d.data) {
        byte = static_cast<std::uint8_t>(byte ^ 0xff);  // data is mutable in place
      }
      b->send(d.from, d.data);
    }
    b->flush();
  });
  const std::vector<std::uint8_t> hello = {1, 2, 3};
  a->send(b->localEndpoint(), hello);
  a->flush();
  ASSERT_TRUE(runUntil([&] { return !at_a.datagrams.empty(); }));
  EXPECT_EQ(at_a.datagrams[0].first, b->localEndpoint());
  EXPECT_EQ(at_a.datagrams[0].second, (std::vector<std::uint8_t>{0xfe, 0xfd, 0xfc}));
}

TEST_F(UdpTransportTest, PortInUseGivesClearMessage) {
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {});
  const auto port = a->localEndpoint().port();
  try {
    auto b = UvUdpTransport::open(loop_, Endpoint(*IpAddress::parse("127.0.0.1"), port), 1500,
                                  [](auto) {});
    FAIL() << "expected NetError";
  } catch (const NetError& e) {
    EXPECT_EQ(std::string(e.what()), "UDP port " + std::to_string(port) +
                                         " on 127.0.0.1 is already in use; stop the other "
                                         "program or change [peer] listen");
  }
}

TEST_F(UdpTransportTest, BadDatagramSizeRejected) {
  EXPECT_THROW(UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 0, [](auto) {}), NetError);
}

TEST_F(UdpTransportTest, Ipv6Loopback) {
  Received rx;
  std::unique_ptr<UvUdpTransport> a;
  try {
    a = UvUdpTransport::open(loop_, ep("[::1]:0"), 1500, [](auto) {});
  } catch (const NetError& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  auto b = UvUdpTransport::open(loop_, ep("[::1]:0"), 1500, rx.handler());
  const std::vector<std::uint8_t> msg = {9, 8, 7, 6};
  a->send(b->localEndpoint(), msg);
  a->flush();
  ASSERT_TRUE(runUntil([&] { return !rx.datagrams.empty(); }));
  EXPECT_EQ(rx.datagrams[0].first, a->localEndpoint());
  EXPECT_TRUE(rx.datagrams[0].first.address().isV6());
  EXPECT_EQ(rx.datagrams[0].second, msg);
}

TEST_F(UdpTransportTest, DualStackReportsIpv4PeersAsIpv4) {
  Received at_v4;
  Received at_dual;
  std::unique_ptr<UvUdpTransport> dual;
  try {
    dual = UvUdpTransport::open(loop_, ep("[::]:0"), 1500, at_dual.handler());
  } catch (const NetError& e) {
    GTEST_SKIP() << "no IPv6 here: " << e.what();
  }
  auto v4 = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, at_v4.handler());
  const Endpoint dual_v4(*IpAddress::parse("127.0.0.1"), dual->localEndpoint().port());
  const std::vector<std::uint8_t> ping = {'p', 'i', 'n', 'g'};
  v4->send(dual_v4, ping);
  v4->flush();
  ASSERT_TRUE(runUntil([&] { return !at_dual.datagrams.empty(); }));
  const Endpoint from = at_dual.datagrams[0].first;
  EXPECT_TRUE(from.address().isV4()) << from.toString();
  EXPECT_EQ(from, v4->localEndpoint());
  // And back: an IPv4 destination on the IPv6 socket goes out as a mapped address.
  dual->send(from, ping);
  dual->flush();
  ASSERT_TRUE(runUntil([&] { return !at_v4.datagrams.empty(); }));
  EXPECT_EQ(at_v4.datagrams[0].second, ping);
  EXPECT_EQ(dual->stats().tx_errors, 0u);
}

TEST_F(UdpTransportTest, Ipv4SocketCountsIpv6DestinationAsError) {
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 1500, [](auto) {});
  const std::vector<std::uint8_t> msg = {1};
  a->send(ep("[::1]:9"), msg);
  a->flush();
  EXPECT_EQ(a->stats().tx_errors, 1u);
  EXPECT_EQ(a->stats().tx_packets, 0u);
}

TEST_F(UdpTransportTest, OversizeAndAfterCloseAreDropped) {
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 100, [](auto) {});
  std::vector<std::uint8_t> big(101);
  a->send(ep("127.0.0.1:9"), big);
  EXPECT_EQ(a->stats().tx_dropped, 1u);
  std::vector<std::uint8_t> small(10);
  a->send(ep("127.0.0.1:9"), small);
  EXPECT_EQ(a->queued(), 1u);
  a->close();  // the unsent one is dropped
  EXPECT_EQ(a->stats().tx_dropped, 2u);
  a->send(ep("127.0.0.1:9"), small);
  EXPECT_EQ(a->stats().tx_dropped, 3u);
  a->close();  // idempotent
}

TEST_F(UdpTransportTest, FullBatchIsSentWithoutExplicitFlush) {
  Received rx;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 64, [](auto) {});
  auto b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 64, rx.handler());
  for (std::size_t i = 0; i < UvUdpTransport::kBatch; ++i) {
    a->send(b->localEndpoint(), pattern(i, 8));
  }
  EXPECT_EQ(a->queued(), 0u);
  EXPECT_EQ(a->stats().tx_packets, UvUdpTransport::kBatch);
  EXPECT_EQ(a->stats().tx_batches, 1u);
  ASSERT_TRUE(runUntil([&] { return rx.datagrams.size() == UvUdpTransport::kBatch; }));
}

TEST_F(UdpTransportTest, CloseFromInsideTheHandlerStopsDelivery) {
  std::size_t batches = 0;
  std::unique_ptr<UvUdpTransport> b;
  auto a = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 64, [](auto) {});
  b = UvUdpTransport::open(loop_, ep("127.0.0.1:0"), 64, [&](std::span<ReceivedDatagram>) {
    ++batches;
    b->close();
  });
  for (std::size_t i = 0; i < 3 * UvUdpTransport::kBatch; ++i) {
    a->send(b->localEndpoint(), pattern(i, 8));
  }
  a->flush();
  runUntil([&] { return batches > 0; });
  runUntil([] { return false; }, std::chrono::milliseconds(30));
  EXPECT_EQ(batches, 1u);
}

}  // namespace
}  // namespace vpn::net::test
