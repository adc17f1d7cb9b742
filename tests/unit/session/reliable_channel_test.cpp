// ReliableChannel in isolation: two channels joined by a NoisyLink on a virtual clock, packets
// going through the real handshake wire format.
#include "session/reliable_channel.hpp"

#include <gtest/gtest.h>

#include <queue>
#include <random>

#include "tests/fakes/fake_clock.hpp"
#include "tests/fakes/noisy_link.hpp"

namespace vpn::session {
namespace {

using test::FakeClock;
using test::LinkConfig;
using test::NoisyLink;

std::vector<std::uint8_t> randomBytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) {
    b = static_cast<std::uint8_t>(rng());
  }
  return v;
}

class ChannelPair {
 public:
  ChannelPair(std::uint64_t seed, LinkConfig link) : link_(seed), cfg_(link) {}

  ReliableChannel side[2];
  std::vector<std::uint8_t> received[2];
  std::uint64_t packets_sent = 0;

  // Runs until both streams have arrived or the virtual time limit passes.
  bool run(const std::vector<std::uint8_t> expect[2], Duration limit) {
    Instant end = clock_.now() + limit;
    for (int guard = 0; guard < 1000000; ++guard) {
      flush();
      if (received[0].size() >= expect[0].size() && received[1].size() >= expect[1].size() &&
          side[0].allAcked() && side[1].allAcked()) {
        return true;
      }
      Instant next = std::min({side[0].nextDeadline(), side[1].nextDeadline(),
                               queue_.empty() ? kNever : queue_.top().at});
      if (next > end) {
        return false;
      }
      if (next > clock_.now()) {
        clock_.set(next);
      }
      while (!queue_.empty() && queue_.top().at <= clock_.now()) {
        auto f = queue_.top();
        queue_.pop();
        auto parsed = protocol::parseHandshake(f.bytes);
        EXPECT_TRUE(parsed.ok());
        int to = f.to;
        side[to].onPacket(clock_.now(), *parsed);
        auto d = side[to].delivered();
        received[to].insert(received[to].end(), d.begin(), d.end());
        side[to].consumeDelivered();
      }
    }
    return false;
  }

 private:
  struct InFlight {
    Instant at;
    std::uint64_t seq;
    int to;
    std::vector<std::uint8_t> bytes;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void flush() {
    for (int s = 0; s < 2; ++s) {
      ReliableChannel::Outgoing out;
      while (side[s].poll(clock_.now(), out)) {
        protocol::HandshakePacket p;
        p.sender_index = static_cast<std::uint32_t>(s + 1);
        p.receiver_index = static_cast<std::uint32_t>(2 - s);
        if (out.packet_id != 0) {
          p.flags = protocol::kFlagPayload;
          p.packet_id = out.packet_id;
          p.payload = out.payload;
        }
        std::array<std::uint8_t, protocol::kMaxHandshakePacket> buf;
        std::size_t n = protocol::serializeHandshake(p, out.ackSpan(), buf);
        ASSERT_GT(n, 0u);
        ++packets_sent;
        for (Duration d : link_.transmit(cfg_)) {
          queue_.push(InFlight{clock_.now() + d, seq_++, 1 - s,
                               std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n))});
        }
      }
    }
  }

  FakeClock clock_;
  NoisyLink link_;
  LinkConfig cfg_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
};

LinkConfig lossy() {
  LinkConfig cfg;
  cfg.loss = 0.2;
  cfg.duplicate = 0.1;
  cfg.reorder = 0.3;
  cfg.delay = milliseconds(20);
  cfg.jitter = milliseconds(10);
  cfg.reorder_extra = milliseconds(80);
  return cfg;
}

TEST(ReliableChannel, CleanLinkDeliversInOrderAndMeasuresRtt) {
  std::mt19937_64 rng(1);
  ChannelPair pair(1, LinkConfig{});
  std::vector<std::uint8_t> expect[2] = {randomBytes(rng, 5000), randomBytes(rng, 100)};
  ASSERT_TRUE(pair.side[0].send(expect[1]));
  ASSERT_TRUE(pair.side[1].send(expect[0]));
  ASSERT_TRUE(pair.run(expect, seconds(5)));
  EXPECT_EQ(pair.received[0], expect[0]);
  EXPECT_EQ(pair.received[1], expect[1]);
  EXPECT_EQ(pair.side[0].retransmissions(), 0u);
  ASSERT_TRUE(pair.side[0].srtt().has_value());
  EXPECT_EQ(*pair.side[0].srtt(), milliseconds(20));  // one-way 10 ms, acked at once
}

TEST(ReliableChannel, LossReorderDuplicationDeliversExactlyInOrder) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    ChannelPair pair(seed, lossy());
    std::vector<std::uint8_t> expect[2] = {randomBytes(rng, 40000 + seed * 97),
                                           randomBytes(rng, 9000 + seed)};
    // Several writes, as TLS flights come, including ones smaller than a chunk.
    ASSERT_TRUE(pair.side[1].send(std::span(expect[0]).first(10)));
    ASSERT_TRUE(pair.side[1].send(std::span(expect[0]).subspan(10)));
    ASSERT_TRUE(pair.side[0].send(expect[1]));
    ASSERT_TRUE(pair.run(expect, seconds(120))) << "seed " << seed;
    EXPECT_EQ(pair.received[0], expect[0]) << "seed " << seed;
    EXPECT_EQ(pair.received[1], expect[1]) << "seed " << seed;
    EXPECT_GT(pair.side[1].retransmissions(), 0u);
  }
}

TEST(ReliableChannel, BackoffDoublesToCapWhenPeerIsSilent) {
  ReliableChannel ch;
  std::vector<std::uint8_t> data(100, 7);
  ASSERT_TRUE(ch.send(data));
  Instant t = Instant{} + seconds(100);
  ReliableChannel::Outgoing out;
  ASSERT_TRUE(ch.poll(t, out));
  EXPECT_EQ(out.packet_id, 1u);
  EXPECT_FALSE(ch.poll(t, out));
  std::vector<Duration> gaps;
  Instant last = t;
  for (int i = 0; i < 8; ++i) {
    Instant next = ch.nextDeadline();
    ASSERT_TRUE(ch.poll(next, out));
    EXPECT_EQ(out.packet_id, 1u);
    gaps.push_back(next - last);
    last = next;
  }
  std::vector<Duration> want = {milliseconds(300), milliseconds(600), milliseconds(1200),
                                milliseconds(2400), seconds(3), seconds(3), seconds(3), seconds(3)};
  EXPECT_EQ(gaps, want);
}

TEST(ReliableChannel, WindowLimitsChunksInFlight) {
  ReliableChannel ch;
  std::vector<std::uint8_t> data(protocol::kMaxHandshakePayload * 40, 1);
  ASSERT_TRUE(ch.send(data));
  Instant t = Instant{} + seconds(1);
  ReliableChannel::Outgoing out;
  int n = 0;
  while (ch.poll(t, out)) {
    ++n;
    EXPECT_EQ(out.payload.size(), protocol::kMaxHandshakePayload);
  }
  EXPECT_EQ(n, 16);
}

protocol::HandshakePacket payloadPacket(std::uint32_t id, std::span<const std::uint8_t> payload) {
  protocol::HandshakePacket p;
  p.flags = protocol::kFlagPayload;
  p.sender_index = 1;
  p.packet_id = id;
  p.payload = payload;
  return p;
}

TEST(ReliableChannel, HostileInputsNeverCorruptTheStream) {
  ReliableChannel ch;
  Instant t = Instant{} + seconds(1);
  std::vector<std::uint8_t> a(10, 'a'), b(10, 'b'), c(10, 'c');
  // Far ahead of the window: dropped and not acked, so the sender will resend it.
  EXPECT_FALSE(ch.onPacket(t, payloadPacket(1000, a)));
  EXPECT_FALSE(ch.onPacket(t, payloadPacket(0xFFFFFFFFu, a)));
  EXPECT_FALSE(ch.hasPendingAcks());
  // Out of order, duplicated, with a conflicting duplicate (first copy wins).
  EXPECT_TRUE(ch.onPacket(t, payloadPacket(3, c)));
  EXPECT_TRUE(ch.onPacket(t, payloadPacket(2, b)));
  EXPECT_TRUE(ch.onPacket(t, payloadPacket(2, a)));
  EXPECT_TRUE(ch.delivered().empty());
  EXPECT_TRUE(ch.onPacket(t, payloadPacket(1, a)));
  EXPECT_TRUE(ch.onPacket(t, payloadPacket(1, c)));  // old duplicate: acked, ignored
  std::vector<std::uint8_t> want;
  want.insert(want.end(), a.begin(), a.end());
  want.insert(want.end(), b.begin(), b.end());
  want.insert(want.end(), c.begin(), c.end());
  EXPECT_EQ(std::vector<std::uint8_t>(ch.delivered().begin(), ch.delivered().end()), want);
  // Acks for chunks never sent (bogus) are ignored; every received id is acked once per poll.
  std::array<std::uint8_t, 8> acks_raw = {0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF};
  protocol::HandshakePacket ack;
  ack.sender_index = 1;
  ack.acks_raw = acks_raw;
  EXPECT_TRUE(ch.onPacket(t, ack));
  ReliableChannel::Outgoing out;
  ASSERT_TRUE(ch.poll(t, out));
  EXPECT_EQ(out.packet_id, 0u);
  std::vector<std::uint32_t> acked(out.acks.begin(), out.acks.begin() + static_cast<std::ptrdiff_t>(out.ack_count));
  EXPECT_EQ(acked, (std::vector<std::uint32_t>{3, 2, 1}));
  EXPECT_FALSE(ch.poll(t, out));
  EXPECT_EQ(ch.nextDeadline(), kNever);
  EXPECT_TRUE(ch.allAcked());
}

TEST(ReliableChannel, AckForUnsentChunkDoesNotCountAsDelivered) {
  ReliableChannel ch;
  std::vector<std::uint8_t> data(protocol::kMaxHandshakePayload * 20, 1);
  ASSERT_TRUE(ch.send(data));
  Instant t = Instant{} + seconds(1);
  // Ack id 18 before anything was sent: must not be marked acked.
  std::array<std::uint8_t, 4> raw = {0, 0, 0, 18};
  protocol::HandshakePacket ack;
  ack.sender_index = 1;
  ack.acks_raw = raw;
  ch.onPacket(t, ack);
  ReliableChannel::Outgoing out;
  std::uint32_t highest = 0;
  while (ch.poll(t, out)) {
    highest = std::max(highest, out.packet_id);
  }
  EXPECT_EQ(highest, 16u);
  EXPECT_FALSE(ch.allAcked());
}

TEST(ReliableChannel, RefusesToQueueBeyondLimit) {
  ReliableChannelOptions o;
  o.max_queued_bytes = 4096;
  ReliableChannel ch(o);
  std::vector<std::uint8_t> data(4000, 1);
  EXPECT_TRUE(ch.send(data));
  EXPECT_FALSE(ch.send(data));
}

}  // namespace
}  // namespace vpn::session
