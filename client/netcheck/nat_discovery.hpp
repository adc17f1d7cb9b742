#pragma once
// NatDiscovery: the I/O-free engine behind `vpnpeer netcheck`. Given one STUN server (our
// rendezvous, RFC 5780 capable), it decides which Binding requests to send where, with which
// CHANGE-REQUEST flags, retransmits them on the clock it is given, and concludes what kind of NAT
// (if any) sits between this host and the server.
//
// The tests run in three phases, one socket throughout (RFC 5780 §4):
//   1. Test I: Binding to the server's primary address:port. No answer within the budget means
//      "UDP blocked". The answer gives the public (server-reflexive) endpoint and, through
//      OTHER-ADDRESS, the server's alternate address and/or port.
//   2. Filtering (§4.4), sent to the primary address:port, both at once:
//        with an alternate address: CHANGE-REQUEST ip+port answered -> endpoint-independent;
//          else CHANGE-REQUEST port answered -> address-dependent; else address-and-port-dependent.
//        with an alternate port only: CHANGE-REQUEST port answered -> endpoint-independent OR
//          address-dependent (full and restricted cone can't be told apart); else
//          address-and-port-dependent. RFC 5780 servers send OTHER-ADDRESS only when they have
//          a second address, so without OTHER-ADDRESS this port-only test is tried anyway, and
//          its answer's source port names the alternate port for the mapping test (a 420
//          answer means the server has none: everything past test I is then unknown).
//      Filtering runs before the mapping tests, because those send to the alternate address/port
//      and would open the NAT's filter for it. An answer that arrives from the very address the
//      request went to means the server ignored CHANGE-REQUEST: filtering is then "unknown".
//   3. Mapping (§4.3), both at once: to alternate-address:primary-port (and
//      alternate-address:alternate-port); without an alternate address, to
//      primary-address:alternate-port. Same mapped endpoint as test I -> endpoint-independent;
//      the two alternate-address answers equal -> address-dependent; else
//      address-and-port-dependent. Across ports only, an address-dependent mapping would look
//      endpoint-independent; the report says so.
// "Behind NAT" compares test I's mapped endpoint with the socket's local endpoint (if given).
//
// Retransmission (RFC 8489 §6.2.1, shortened for an interactive tool): the same transaction id is
// resent after initial_rto, then doubling, while the next send falls inside the per-test budget;
// the test gives up when the budget is spent. Defaults: 500 ms RTO, 3 s budget: sends at 0, 0.5,
// 1.5 s; the whole run takes at most ~9 s and usually well under 1 s plus one budget (a filtering
// test that a restrictive NAT blocks must time out to be conclusive).
//
// Answers are matched by transaction id; anything else (garbage, other transactions, requests,
// responses with unknown comprehension-required attributes, success without a mapped address) is
// ignored and counted. Transaction ids come from the caller (random in production, scripted in
// tests). Not thread-safe; no I/O, no clock of its own.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ip_address.hpp"
#include "protocol/nat_type.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "protocol/stun.hpp"

namespace vpn::netcheck {

using protocol::Endpoint;
using TimePoint = std::chrono::steady_clock::time_point;

enum class MappingBehavior : std::uint8_t {
  kUnknown,
  kEndpointIndependent,
  kAddressDependent,
  kAddressAndPortDependent,
};

enum class FilteringBehavior : std::uint8_t {
  kUnknown,
  kEndpointIndependent,
  kAddressDependent,
  kAddressAndPortDependent,
  kEndpointOrAddressDependent,  // tested with the port only: the two can't be told apart
};

// Classic (RFC 3489-style) names, the same values peers announce in REGISTER
// (protocol/nat_type.hpp). kFullOrRestrictedCone: endpoint-independent mapping, and filtering
// that lets the server's other port through, but the server has no second address to tell full
// from restricted cone.
using NatType = protocol::NatType;

// Stable names, used in --json: "unknown", "endpoint-independent", "address-dependent",
// "address-and-port-dependent", "endpoint-or-address-dependent"; NAT types "unknown",
// "udp-blocked", "open", "open-with-firewall", "full-cone", "restricted-cone",
// "full-or-restricted-cone", "port-restricted-cone", "symmetric".
std::string_view toString(MappingBehavior m);
std::string_view toString(FilteringBehavior f);
using protocol::toString;  // NatType

struct NatDiscoveryConfig {
  Endpoint server;                     // the primary address:port
  std::optional<Endpoint> local;       // our socket's address, to tell whether we are behind NAT
  std::chrono::milliseconds initial_rto{500};
  std::chrono::milliseconds test_budget{3000};
  std::string software = "vpnpeer netcheck";
};

enum class TestKind : std::uint8_t {
  kBinding,             // test I
  kFilterChangeIpPort,  // filtering: CHANGE-REQUEST ip+port
  kFilterChangePort,    // filtering: CHANGE-REQUEST port
  kMappingAltAddress,   // mapping: alternate address, primary port
  kMappingAltBoth,      // mapping: alternate address, alternate port
  kMappingAltPort,      // mapping: primary address, alternate port
};
std::string_view toString(TestKind k);

enum class TestOutcome : std::uint8_t {
  kPending,
  kAnswered,
  kTimedOut,
  kErrorResponse,       // the server answered with an error (e.g. 420: can't change address)
  kAnsweredUnchanged,   // a CHANGE-REQUEST answered from the address it was sent to
};

struct TestRecord {
  TestKind kind = TestKind::kBinding;
  Endpoint to;
  bool change_ip = false;
  bool change_port = false;
  TestOutcome outcome = TestOutcome::kPending;
  int transmissions = 0;
  std::optional<Endpoint> mapped;          // the answer's (XOR-)MAPPED-ADDRESS
  std::optional<Endpoint> answered_from;   // the answer's source address
  std::optional<std::uint16_t> error_code;
  std::chrono::milliseconds rtt{0};        // from the first transmission to the answer
};

struct NetcheckReport {
  bool udp_ok = false;
  std::optional<Endpoint> public_endpoint;  // test I's mapped endpoint
  std::optional<Endpoint> local;
  std::optional<bool> behind_nat;           // unknown without a local endpoint
  std::optional<Endpoint> server_other_address;
  bool server_alt_address = false;          // OTHER-ADDRESS has a different IP
  bool server_alt_port = false;             // OTHER-ADDRESS (or a change-port answer) has
                                            // a different port
  MappingBehavior mapping = MappingBehavior::kUnknown;
  bool mapping_tested_across_addresses = false;
  FilteringBehavior filtering = FilteringBehavior::kUnknown;
  bool filtering_tested_with_address = false;
  NatType nat_type = NatType::kUnknown;
  // A mapping that depends on the destination, whose new mappings took consecutive ports this
  // far apart (1..protocol::kMaxPortStride): a NAT that allocates in sequence, whose next port
  // can be predicted (docs/paths.md rule 14).
  std::optional<std::uint8_t> port_stride;
  std::vector<TestRecord> tests;
  std::vector<std::string> notes;           // plain-language caveats, in order
  std::uint64_t ignored_datagrams = 0;
};

struct OutgoingRequest {
  Endpoint to;
  std::vector<std::uint8_t> bytes;
};

class NatDiscovery {
 public:
  using IdSource = std::function<protocol::StunTransactionId()>;

  NatDiscovery(NatDiscoveryConfig config, IdSource new_transaction_id);

  // Starts test I. Call once.
  void start(TimePoint now);
  // A datagram received on the socket from `from`.
  void onDatagram(TimePoint now, const Endpoint& from, std::span<const std::uint8_t> bytes);
  // Call at (or after) nextDeadline(): retransmits and times tests out.
  void onTimer(TimePoint now);
  // Requests to send now, in order; the queue is emptied.
  std::vector<OutgoingRequest> takeOutgoing();
  // When onTimer wants to run next; nullopt once done.
  std::optional<TimePoint> nextDeadline() const;
  bool done() const { return phase_ == Phase::kDone; }
  // Meaningful once done(); fields fill in as tests complete.
  const NetcheckReport& report() const { return report_; }

 private:
  enum class Phase : std::uint8_t { kIdle, kBinding, kFiltering, kMapping, kDone };
  struct Pending {
    std::size_t record = 0;  // index into report_.tests
    protocol::StunTransactionId txid{};
    TimePoint first_sent;
    TimePoint next_send;
    TimePoint give_up;
    std::chrono::milliseconds rto{0};
  };

  void launch(TimePoint now, TestKind kind, const Endpoint& to, bool change_ip, bool change_port);
  void transmit(Pending& p);
  void advance(TimePoint now);
  void startFiltering(TimePoint now);
  void startMapping(TimePoint now);
  void finish();
  void concludeFiltering();
  void concludeMapping();
  void concludeStride();
  void classify();
  const TestRecord* find(TestKind k) const;

  NatDiscoveryConfig config_;
  IdSource new_id_;
  Phase phase_ = Phase::kIdle;
  std::vector<Pending> pending_;
  std::vector<OutgoingRequest> outgoing_;
  NetcheckReport report_;
  std::optional<std::uint16_t> alt_port_;  // the server's alternate port, once known
};

}  // namespace vpn::netcheck
