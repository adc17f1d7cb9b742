#include "client/netcheck/nat_discovery.hpp"
#include "tests/unit/netcheck/nat_world.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <utility>

namespace vpn::netcheck {
namespace {

using namespace nattest;


TEST(NatDiscovery, OpenInternet) {
  World w;
  w.mapping = Mapping::kNone;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_TRUE(r.udp_ok);
  EXPECT_EQ(r.public_endpoint, w.local);
  EXPECT_EQ(r.behind_nat, false);
  EXPECT_EQ(r.mapping, MappingBehavior::kEndpointIndependent);
  EXPECT_EQ(r.filtering, FilteringBehavior::kEndpointIndependent);
  EXPECT_EQ(r.nat_type, NatType::kOpen);
  EXPECT_EQ(toString(r.nat_type), "open");
  EXPECT_EQ(r.server_other_address, ep("203.0.113.2:3479"));
  EXPECT_TRUE(r.server_alt_address);
  EXPECT_TRUE(r.server_alt_port);
}

TEST(NatDiscovery, OpenWithFirewall) {
  World w;
  w.mapping = Mapping::kNone;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.behind_nat, false);
  EXPECT_EQ(r.filtering, FilteringBehavior::kAddressAndPortDependent);
  EXPECT_EQ(r.nat_type, NatType::kOpenWithFirewall);
}

TEST(NatDiscovery, FullCone) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_EQ(r.behind_nat, true);
  EXPECT_EQ(r.public_endpoint, ep("198.51.100.1:40000"));
  EXPECT_EQ(r.mapping, MappingBehavior::kEndpointIndependent);
  EXPECT_TRUE(r.mapping_tested_across_addresses);
  EXPECT_EQ(r.filtering, FilteringBehavior::kEndpointIndependent);
  EXPECT_TRUE(r.filtering_tested_with_address);
  EXPECT_EQ(r.nat_type, NatType::kFullCone);
  EXPECT_EQ(toString(r.nat_type), "full-cone");
}

TEST(NatDiscovery, RestrictedCone) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressDependent;
  auto run = drive(w);
  auto& r = run.report;
  EXPECT_EQ(r.filtering, FilteringBehavior::kAddressDependent);
  EXPECT_EQ(r.nat_type, NatType::kRestrictedCone);
  // The change-ip+port test had to time out: one budget past the start of filtering.
  EXPECT_GE(run.elapsed, 3000ms);
  EXPECT_LE(run.elapsed, 3100ms);
}

TEST(NatDiscovery, PortRestrictedCone) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.mapping, MappingBehavior::kEndpointIndependent);
  EXPECT_EQ(r.filtering, FilteringBehavior::kAddressAndPortDependent);
  EXPECT_EQ(r.nat_type, NatType::kPortRestrictedCone);
  EXPECT_EQ(toString(r.nat_type), "port-restricted-cone");
}

TEST(NatDiscovery, SymmetricAddressAndPortDependent) {
  World w;
  w.mapping = Mapping::kAddressAndPortDependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.mapping, MappingBehavior::kAddressAndPortDependent);
  EXPECT_EQ(r.nat_type, NatType::kSymmetric);
}

TEST(NatDiscovery, SymmetricAddressDependent) {
  World w;
  w.mapping = Mapping::kAddressDependent;
  w.filtering = Filtering::kAddressDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.mapping, MappingBehavior::kAddressDependent);
  EXPECT_EQ(r.nat_type, NatType::kSymmetric);
}

TEST(NatDiscovery, FilteringTestsRunBeforeMappingTests) {
  // Mapping tests contact the alternate address; if they ran first, an address-dependent filter
  // would let the change-ip answer through and the NAT would look like a full cone.
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressDependent;
  auto run = drive(w);
  bool seen_alt = false;
  for (const auto& t : run.report.tests) {
    if (t.kind == TestKind::kMappingAltAddress || t.kind == TestKind::kMappingAltBoth) {
      seen_alt = true;
    }
    if (t.kind == TestKind::kFilterChangeIpPort || t.kind == TestKind::kFilterChangePort) {
      EXPECT_FALSE(seen_alt);
    }
  }
  EXPECT_TRUE(seen_alt);
}

TEST(NatDiscovery, UdpBlocked) {
  World w;
  w.filtering = Filtering::kBlockAll;
  auto run = drive(w);
  EXPECT_FALSE(run.report.udp_ok);
  EXPECT_EQ(run.report.nat_type, NatType::kUdpBlocked);
  EXPECT_EQ(toString(run.report.nat_type), "udp-blocked");
  // RFC 8489-style retransmission: 0, 500, 1500 ms, giving up at the 3 s budget.
  ASSERT_EQ(run.sends.size(), 3u);
  EXPECT_EQ(run.sends[0].first, 0ms);
  EXPECT_EQ(run.sends[1].first, 500ms);
  EXPECT_EQ(run.sends[2].first, 1500ms);
  EXPECT_EQ(run.elapsed, 3000ms);
  ASSERT_EQ(run.report.tests.size(), 1u);
  EXPECT_EQ(run.report.tests[0].outcome, TestOutcome::kTimedOut);
  EXPECT_EQ(run.report.tests[0].transmissions, 3);
}

TEST(NatDiscovery, LongerBudgetMoreRetransmissions) {
  World w;
  w.filtering = Filtering::kBlockAll;
  NatDiscoveryConfig cfg;
  cfg.test_budget = 5000ms;
  auto run = drive(w, cfg);
  ASSERT_EQ(run.sends.size(), 4u);
  EXPECT_EQ(run.sends[3].first, 3500ms);
  EXPECT_EQ(run.elapsed, 5000ms);
}

TEST(NatDiscovery, LossRecoveredByRetransmission) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  // Lose the first two copies of every request.
  w.drop_request = [](const Endpoint&, int n) { return n < 2; };
  auto run = drive(w);
  auto& r = run.report;
  EXPECT_EQ(r.nat_type, NatType::kFullCone);
  EXPECT_EQ(r.tests[0].transmissions, 3);
  EXPECT_EQ(r.tests[0].rtt, 1520ms);
}

TEST(NatDiscovery, LateAnswerAfterGiveUpIgnored) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  w.drop_request = [](const Endpoint&, int) { return true; };
  auto run = drive(w);
  EXPECT_EQ(run.report.nat_type, NatType::kUdpBlocked);
}

TEST(NatDiscovery, GarbageAndWrongTransactionIgnored) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  std::mt19937 rng(7);
  auto inject = [&](NatDiscovery& nd, TimePoint now) {
    // A well-formed success for a transaction we never started: must not count as an answer.
    protocol::StunMessage fake;
    fake.type = protocol::kStunBindingRequest;
    fake.transaction_id.fill(0x11);
    std::vector<std::uint8_t> buf(protocol::kStunMaxBuiltSize);
    std::size_t n = protocol::buildBindingResponse(fake, ep("6.6.6.6:6"), std::nullopt,
                                                   std::nullopt, buf);
    buf.resize(n);
    nd.onDatagram(now, ep("203.0.113.2:3479"), buf);
    // Random bytes, and a request echoed back.
    std::vector<std::uint8_t> junk(static_cast<std::size_t>(rng() % 64));
    for (auto& b : junk) {
      b = static_cast<std::uint8_t>(rng());
    }
    nd.onDatagram(now, ep("203.0.113.2:3479"), junk);
    protocol::BindingRequestParams p;
    p.transaction_id.fill(0xA5);
    p.transaction_id[11] = 1;
    std::vector<std::uint8_t> req(protocol::kStunMaxBuiltSize);
    req.resize(protocol::buildBindingRequest(p, req));
    nd.onDatagram(now, ep("203.0.113.2:3479"), req);
  };
  auto run = drive(w, {}, inject);
  auto& r = run.report;
  EXPECT_EQ(r.public_endpoint, ep("198.51.100.1:40000"));
  EXPECT_EQ(r.nat_type, NatType::kPortRestrictedCone);
  EXPECT_GE(r.ignored_datagrams, 3u * run.sends.size());
}

TEST(NatDiscovery, WrongTransactionSameMappedIgnoredInFilteringTest) {
  // A forged success (wrong id) arriving during the filtering phase from the alternate address
  // must not turn a port-restricted NAT into a full cone.
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto inject = [&](NatDiscovery& nd, TimePoint now) {
    protocol::StunMessage fake;
    fake.type = protocol::kStunBindingRequest;
    fake.transaction_id.fill(0xA5);
    fake.transaction_id[11] = 99;
    std::vector<std::uint8_t> buf(protocol::kStunMaxBuiltSize);
    buf.resize(protocol::buildBindingResponse(fake, ep("198.51.100.1:40000"), std::nullopt,
                                              std::nullopt, buf));
    nd.onDatagram(now, ep("203.0.113.2:3479"), buf);
  };
  auto r = drive(w, {}, inject).report;
  EXPECT_EQ(r.nat_type, NatType::kPortRestrictedCone);
}

TEST(NatDiscovery, NoAlternateAddressPortOnlyTests) {
  World w;
  w.server_alt_ip = false;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_FALSE(r.server_alt_address);
  EXPECT_TRUE(r.server_alt_port);
  EXPECT_FALSE(r.filtering_tested_with_address);
  EXPECT_FALSE(r.mapping_tested_across_addresses);
  EXPECT_EQ(r.filtering, FilteringBehavior::kEndpointOrAddressDependent);
  EXPECT_EQ(r.nat_type, NatType::kFullOrRestrictedCone);
  EXPECT_EQ(toString(r.nat_type), "full-or-restricted-cone");
  bool said_so = false;
  for (const auto& n : r.notes) {
    said_so = said_so || n.find("can't be told apart") != std::string::npos;
  }
  EXPECT_TRUE(said_so);
  // An address-dependent filter looks the same with a single server address.
  World w2 = w;
  w2.filtering = Filtering::kAddressDependent;
  EXPECT_EQ(drive(w2).report.nat_type, NatType::kFullOrRestrictedCone);
}

TEST(NatDiscovery, NoAlternateAddressPortRestrictedAndSymmetric) {
  World w;
  w.server_alt_ip = false;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  EXPECT_EQ(drive(w).report.nat_type, NatType::kPortRestrictedCone);
  w = World{};
  w.server_alt_ip = false;
  w.mapping = Mapping::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.mapping, MappingBehavior::kAddressAndPortDependent);
  EXPECT_EQ(r.nat_type, NatType::kSymmetric);
}

TEST(NatDiscovery, NoAlternateAddressNoNatIsOpen) {
  World w;
  w.server_alt_ip = false;
  w.mapping = Mapping::kNone;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_EQ(r.behind_nat, false);
  EXPECT_EQ(r.nat_type, NatType::kOpen);
}

TEST(NatDiscovery, ServerWithoutOtherAddressLearnsAltPortFromChangePortAnswer) {
  // RFC 5780: no second address, no OTHER-ADDRESS; the alternate port still answers.
  World w;
  w.server_alt_ip = false;
  w.server_other_address = false;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_TRUE(r.udp_ok);
  EXPECT_FALSE(r.server_other_address);
  EXPECT_TRUE(r.server_alt_port);
  EXPECT_EQ(r.filtering, FilteringBehavior::kEndpointOrAddressDependent);
  EXPECT_EQ(r.mapping, MappingBehavior::kEndpointIndependent);
  EXPECT_EQ(r.nat_type, NatType::kFullOrRestrictedCone);
  ASSERT_EQ(r.tests.size(), 3u);
  EXPECT_EQ(r.tests[2].kind, TestKind::kMappingAltPort);
  EXPECT_EQ(r.tests[2].to, ep("203.0.113.1:3479"));

  World open = w;
  open.mapping = Mapping::kNone;
  EXPECT_EQ(drive(open).report.nat_type, NatType::kOpen);

  World sym = w;
  sym.mapping = Mapping::kAddressAndPortDependent;
  EXPECT_EQ(drive(sym).report.nat_type, NatType::kSymmetric);
}

TEST(NatDiscovery, ServerWithoutOtherAddressBehindStrictFilter) {
  // The change-port answer is filtered: the alternate port stays unknown, so does the mapping.
  World w;
  w.server_alt_ip = false;
  w.server_other_address = false;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.public_endpoint, ep("198.51.100.1:40000"));
  EXPECT_EQ(r.behind_nat, true);
  EXPECT_EQ(r.filtering, FilteringBehavior::kAddressAndPortDependent);
  EXPECT_EQ(r.mapping, MappingBehavior::kUnknown);
  EXPECT_EQ(r.nat_type, NatType::kUnknown);
  // Without NAT, that is a firewall all the same.
  World fw = w;
  fw.mapping = Mapping::kNone;
  EXPECT_EQ(drive(fw).report.nat_type, NatType::kOpenWithFirewall);
}

TEST(NatDiscovery, ServerWithoutAnyAlternate) {
  // No alternate address or port: the change-port request gets 420; nothing past test I.
  World w;
  w.server_alt_ip = false;
  w.server_alt_port = false;
  w.server_other_address = false;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  auto r = drive(w).report;
  EXPECT_TRUE(r.udp_ok);
  EXPECT_EQ(r.public_endpoint, ep("198.51.100.1:40000"));
  EXPECT_EQ(r.mapping, MappingBehavior::kUnknown);
  EXPECT_EQ(r.filtering, FilteringBehavior::kUnknown);
  EXPECT_EQ(r.nat_type, NatType::kUnknown);
  ASSERT_EQ(r.tests.size(), 2u);
  EXPECT_EQ(r.tests[1].outcome, TestOutcome::kErrorResponse);
  EXPECT_EQ(r.tests[1].error_code, 420);
}

TEST(NatDiscovery, ServerIgnoringChangeRequestGivesUnknownFiltering) {
  World w;
  w.server_ignores_change = true;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kAddressAndPortDependent;
  auto r = drive(w).report;
  EXPECT_EQ(r.filtering, FilteringBehavior::kUnknown);
  EXPECT_EQ(r.nat_type, NatType::kUnknown);
}

TEST(NatDiscovery, ErrorToChangeRequestGivesUnknownFiltering) {
  // OTHER-ADDRESS claims an alternate address the server can't send from: it answers 420.
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  w.server_can_change_ip = false;
  auto r = drive(w).report;
  bool saw_420 = false;
  for (const auto& t : r.tests) {
    if (t.outcome == TestOutcome::kErrorResponse) {
      saw_420 = t.error_code == 420;
    }
  }
  EXPECT_TRUE(saw_420);
  EXPECT_EQ(r.filtering, FilteringBehavior::kUnknown);
  EXPECT_EQ(r.nat_type, NatType::kUnknown);
}

TEST(NatDiscovery, UnknownLocalAssumesNat) {
  World w;
  w.mapping = Mapping::kEndpointIndependent;
  w.filtering = Filtering::kNone;
  NatDiscoveryConfig cfg;
  cfg.server = w.primary;
  cfg.local = std::nullopt;
  std::uint8_t counter = 0;
  NatDiscovery nd(cfg, [&counter] {
    protocol::StunTransactionId id{};
    id[0] = ++counter;
    return id;
  });
  TimePoint now{};
  nd.start(now);
  for (int i = 0; i < 100 && !nd.done(); ++i) {
    for (auto& req : nd.takeOutgoing()) {
      if (auto resp = w.deliver(req)) {
        nd.onDatagram(now, resp->first, resp->second);
      }
    }
    if (auto d = nd.nextDeadline()) {
      now = *d;
      nd.onTimer(now);
    }
  }
  ASSERT_TRUE(nd.done());
  EXPECT_FALSE(nd.report().behind_nat.has_value());
  EXPECT_EQ(nd.report().nat_type, NatType::kFullCone);
}

}  // namespace
}  // namespace vpn::netcheck
