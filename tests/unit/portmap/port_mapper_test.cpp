// PortMapper on a virtual clock against a scripted router: PCP, the fall back to NAT-PMP and to
// UPnP, renewals, a router that restarted (epoch), transient errors, deletion at stop, and the
// answers it must ignore.
#include <gtest/gtest.h>

#include <vector>

#include "base/byte_io.hpp"
#include "client/portmap/port_mapper.hpp"
#include "protocol/nat_pmp.hpp"

namespace vpn::client {
namespace {

using protocol::Endpoint;
using protocol::IpAddress;
using Bytes = std::vector<std::uint8_t>;

Endpoint ep(const char* s) { return *Endpoint::parse(s); }
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

const Endpoint kRouter = ep("192.168.1.1:5351");
constexpr std::uint16_t kPort = 51820;

struct Recorder : PortMapper::Sink {
  std::vector<Bytes> sent;
  std::vector<std::uint32_t> upnp;  // lifetimes asked
  std::vector<std::optional<Endpoint>> changes;
  void sendToGateway(const Endpoint& to, std::span<const std::uint8_t> d) override {
    EXPECT_EQ(to, kRouter);
    sent.emplace_back(d.begin(), d.end());
  }
  void requestUpnp(std::uint16_t port, std::uint32_t lifetime) override {
    EXPECT_EQ(port, kPort);
    upnp.push_back(lifetime);
  }
  void onMappingChanged(const std::optional<Endpoint>& e) override { changes.push_back(e); }
};

protocol::PcpNonce nonceOf(const Bytes& req) {
  protocol::PcpNonce n{};
  std::copy(req.begin() + 24, req.begin() + 36, n.begin());
  return n;
}
std::uint32_t lifetimeOf(const Bytes& pcp_req) {
  ByteReader r(pcp_req);
  r.u32();
  return r.u32();
}

// A PCP MAP answer to `req`, mapping to `external` (IPv4).
Bytes pcpAnswer(const Bytes& req, std::uint8_t result, const Endpoint& external,
                std::uint32_t lifetime, std::uint32_t epoch) {
  Bytes b(60);
  ByteWriter w(b);
  w.u8(2);
  w.u8(0x81);
  w.u8(0);
  w.u8(result);
  w.u32(lifetime);
  w.u32(epoch);
  w.zeros(12);
  w.bytes(std::span(req).subspan(24, 12));  // nonce
  w.u8(17);
  w.zeros(3);
  w.u16(kPort);
  w.u16(external.port());
  w.zeros(10);
  w.u8(0xFF);
  w.u8(0xFF);
  w.bytes(std::span(external.address().bytes(), 4));
  return b;
}

class PortMapperTest : public ::testing::Test {
 protected:
  PortMapperTest() {
    nonce_[0] = 1;
    mapper = std::make_unique<PortMapper>(sink, PortMapper::Options{}, [this] {
      ++nonce_[0];
      return nonce_;
    });
  }
  void start() { mapper->start(now, ip("192.168.1.1"), ip("192.168.1.7"), kPort); }
  // Advances the clock to the next deadline (at most `limit` ahead) and runs the timer.
  void advance(Duration limit = seconds(3600)) {
    Instant next = std::min(mapper->nextDeadline(), now + limit);
    now = next;
    mapper->onTimer(now);
  }
  void answer(const Bytes& d, const Endpoint& from = kRouter) {
    EXPECT_TRUE(mapper->onDatagram(now, from, d));
  }

  Recorder sink;
  Instant now = Instant{} + seconds(1000);
  std::unique_ptr<PortMapper> mapper;

 private:
  protocol::PcpNonce nonce_{};
};

TEST_F(PortMapperTest, PcpMapsAndRenewsWithTheSameNonce) {
  start();
  ASSERT_EQ(sink.sent.size(), 1u);
  const Bytes req = sink.sent[0];
  ASSERT_EQ(req.size(), 60u);
  EXPECT_EQ(req[0], 2);
  EXPECT_EQ(lifetimeOf(req), 7200u);
  EXPECT_EQ(mapper->status().state, "searching");
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kPcp);
  answer(pcpAnswer(req, 0, ep("203.0.113.5:60001"), 3600, 100));
  EXPECT_EQ(mapper->status().state, "mapped");
  EXPECT_EQ(mapper->status().external, ep("203.0.113.5:60001"));
  ASSERT_EQ(sink.changes.size(), 1u);
  EXPECT_EQ(sink.changes[0], ep("203.0.113.5:60001"));
  EXPECT_EQ(mapper->nextDeadline(), now + seconds(1800));
  advance();
  ASSERT_EQ(sink.sent.size(), 2u);
  EXPECT_EQ(nonceOf(sink.sent[1]), nonceOf(req)) << "a renewal keeps the mapping's nonce";
  answer(pcpAnswer(sink.sent[1], 0, ep("203.0.113.5:60001"), 3600, 100 + 1800));
  EXPECT_EQ(mapper->status().state, "mapped");
  EXPECT_EQ(sink.changes.size(), 1u) << "nothing changed";
  // stop() deletes it: the same nonce, lifetime 0.
  mapper->stop(now);
  ASSERT_EQ(sink.sent.size(), 3u);
  EXPECT_EQ(nonceOf(sink.sent[2]), nonceOf(req));
  EXPECT_EQ(lifetimeOf(sink.sent[2]), 0u);
  ASSERT_EQ(sink.changes.size(), 2u);
  EXPECT_FALSE(sink.changes[1].has_value());
  EXPECT_EQ(mapper->status().state, "off");
  EXPECT_EQ(mapper->nextDeadline(), kNever);
}

TEST_F(PortMapperTest, SilentPcpFallsBackToNatPmp) {
  start();
  Instant t0 = now;
  for (int i = 0; i < 3; ++i) {
    advance();
  }
  ASSERT_EQ(sink.sent.size(), 4u);  // PCP at 0, 250, 750 and 1750 ms
  EXPECT_EQ(now - t0, milliseconds(1750));
  advance();
  EXPECT_EQ(now - t0, milliseconds(3750));
  ASSERT_EQ(sink.sent.size(), 5u);
  EXPECT_EQ(sink.sent[4], (Bytes{0, 0})) << "NAT-PMP: the external address first";
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kNatPmp);
  EXPECT_NE(mapper->status().last_error.find("no answer to PCP"), std::string::npos);
  answer(Bytes{0, 128, 0, 0, 0, 0, 0, 50, 203, 0, 113, 9});
  ASSERT_EQ(sink.sent.size(), 6u);
  EXPECT_EQ(sink.sent[5], (Bytes{0, 1, 0, 0, 0xCA, 0x6C, 0xCA, 0x6C, 0, 0, 0x1C, 0x20}));
  answer(Bytes{0, 129, 0, 0, 0, 0, 0, 50, 0xCA, 0x6C, 0xCA, 0x6D, 0, 0, 0x1C, 0x20});
  EXPECT_EQ(mapper->status().state, "mapped");
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kNatPmp);
  EXPECT_EQ(mapper->status().external, ep("203.0.113.9:51821"));
  EXPECT_EQ(mapper->status().lifetime, seconds(7200));
  mapper->stop(now);
  EXPECT_EQ(sink.sent.back(), (Bytes{0, 1, 0, 0, 0xCA, 0x6C, 0, 0, 0, 0, 0, 0}));
}

TEST_F(PortMapperTest, AVersionZeroAnswerMeansNatPmpAtOnce) {
  start();
  answer(Bytes{0, 0x81, 0, 1, 0, 0, 0, 9});
  ASSERT_EQ(sink.sent.size(), 2u);
  EXPECT_EQ(sink.sent[1], (Bytes{0, 0}));
  EXPECT_EQ(mapper->status().last_error, "the router answers NAT-PMP, not PCP");
}

TEST_F(PortMapperTest, RefusedEverywhereEndsUnavailableAndSearchesAgainLater) {
  start();
  answer(pcpAnswer(sink.sent[0], 2, ep("0.0.0.0:0"), 0, 7));  // NOT_AUTHORIZED
  ASSERT_EQ(sink.sent.size(), 2u);
  answer(Bytes{0, 128, 0, 2, 0, 0, 0, 7});  // NAT-PMP refused
  ASSERT_EQ(sink.upnp.size(), 1u);
  EXPECT_EQ(sink.upnp[0], 7200u);
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kUpnp);
  mapper->onUpnpResult(now, std::nullopt, 0, "no IGD found");
  EXPECT_EQ(mapper->status().state, "unavailable");
  EXPECT_EQ(mapper->status().last_error, "UPnP: no IGD found");
  EXPECT_EQ(mapper->nextDeadline(), now + seconds(300));
  EXPECT_TRUE(sink.changes.empty());
  advance();
  EXPECT_EQ(mapper->status().state, "searching");
  EXPECT_EQ(sink.sent.size(), 3u);
  EXPECT_EQ(sink.sent[2][0], 2) << "PCP again";
  EXPECT_NE(nonceOf(sink.sent[2]), nonceOf(sink.sent[0])) << "a new search, a new nonce";
}

TEST_F(PortMapperTest, UpnpMapsAfterTheOthersAndUnreachableAnswersAreRefused) {
  start();
  answer(pcpAnswer(sink.sent[0], 4, ep("0.0.0.0:0"), 0, 7));  // UNSUPP_OPCODE
  answer(Bytes{0, 128, 0, 5, 0, 0, 0, 7});                    // NAT-PMP: unsupported opcode
  ASSERT_EQ(sink.upnp.size(), 1u);
  mapper->onUpnpResult(now, ep("203.0.113.7:40000"), 0, "");
  EXPECT_EQ(mapper->status().state, "mapped");
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kUpnp);
  EXPECT_EQ(mapper->nextDeadline(), now + seconds(3600)) << "a permanent lease renews as asked";
  advance();
  ASSERT_EQ(sink.upnp.size(), 2u);
  mapper->onUpnpResult(now, ep("10.0.0.1:40000"), 7200, "");  // a private external address
  EXPECT_EQ(mapper->status().state, "searching");
  ASSERT_EQ(sink.changes.size(), 2u);
  EXPECT_FALSE(sink.changes[1].has_value());
  mapper->stop(now);
}

TEST_F(PortMapperTest, TransientErrorRetriesThePcpRequestLater) {
  start();
  answer(pcpAnswer(sink.sent[0], 8, ep("0.0.0.0:0"), 0, 7));  // NO_RESOURCES
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kPcp);
  EXPECT_EQ(mapper->status().last_error, "PCP: no resources");
  EXPECT_EQ(mapper->nextDeadline(), now + seconds(30));
  advance();
  ASSERT_EQ(sink.sent.size(), 2u);
  EXPECT_EQ(sink.sent[1][0], 2);
  answer(pcpAnswer(sink.sent[1], 0, ep("203.0.113.5:51820"), 600, 37));
  EXPECT_EQ(mapper->status().state, "mapped");
}

TEST_F(PortMapperTest, ARouterThatRestartedIsAskedAgainAtOnce) {
  start();
  answer(pcpAnswer(sink.sent[0], 0, ep("203.0.113.5:51820"), 3600, 5000));
  ASSERT_EQ(mapper->status().state, "mapped");
  now += seconds(60);
  // Another answer (a duplicate, or to an ANNOUNCE) with an epoch that went back: state lost.
  answer(pcpAnswer(sink.sent[0], 0, ep("203.0.113.5:51820"), 3600, 3));
  ASSERT_EQ(sink.sent.size(), 2u);
  EXPECT_EQ(nonceOf(sink.sent[1]), nonceOf(sink.sent[0]));
  answer(pcpAnswer(sink.sent[1], 0, ep("203.0.113.5:51820"), 3600, 4));
  EXPECT_EQ(mapper->status().state, "mapped");
  EXPECT_EQ(sink.changes.size(), 1u);
}

TEST_F(PortMapperTest, IgnoresWhatDoesNotAnswerUs) {
  start();
  Bytes good = pcpAnswer(sink.sent[0], 0, ep("203.0.113.5:51820"), 3600, 1);
  Bytes other_nonce = good;
  other_nonce[30] ^= 1;
  answer(other_nonce);
  Bytes other_port = good;
  other_port[41] ^= 1;
  answer(other_port);
  answer(Bytes{1, 2, 3});
  EXPECT_FALSE(mapper->onDatagram(now, ep("192.168.1.1:5350"), good));
  EXPECT_FALSE(mapper->onDatagram(now, ep("192.168.1.2:5351"), good));
  EXPECT_EQ(mapper->status().state, "searching");
  // A private external address (another NAT above the router) is not a mapping peers can use,
  // nor one on port 0.
  answer(pcpAnswer(sink.sent[0], 0, ep("10.1.2.3:51820"), 3600, 1));
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kNatPmp);
  EXPECT_NE(mapper->status().last_error.find("another NAT is above it"), std::string::npos)
      << mapper->status().last_error;
  answer(Bytes{0, 128, 0, 0, 0, 0, 0, 2, 100, 64, 0, 1});  // NAT-PMP: a carrier-grade NAT address
  EXPECT_EQ(mapper->status().protocol, MapProtocol::kUpnp);
  EXPECT_NE(mapper->status().last_error.find("100.64.0.1"), std::string::npos);
  mapper->onUpnpResult(now, ep("203.0.113.1:0"), 60, "");
  EXPECT_NE(mapper->status().last_error.find("no peer can reach"), std::string::npos);
  EXPECT_EQ(mapper->status().state, "unavailable");
  mapper->stop(now);
  EXPECT_FALSE(mapper->onDatagram(now, kRouter, good)) << "stopped: nothing is ours";
}

}  // namespace
}  // namespace vpn::client
