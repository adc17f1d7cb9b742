#include "client/netcheck/nat_discovery.hpp"

#include <algorithm>
#include <utility>

namespace vpn::netcheck {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

bool isChangeTest(TestKind k) {
  return k == TestKind::kFilterChangeIpPort || k == TestKind::kFilterChangePort;
}

}  // namespace

std::string_view toString(MappingBehavior m) {
  switch (m) {
    case MappingBehavior::kUnknown: return "unknown";
    case MappingBehavior::kEndpointIndependent: return "endpoint-independent";
    case MappingBehavior::kAddressDependent: return "address-dependent";
    case MappingBehavior::kAddressAndPortDependent: return "address-and-port-dependent";
  }
  return "unknown";
}

std::string_view toString(FilteringBehavior f) {
  switch (f) {
    case FilteringBehavior::kUnknown: return "unknown";
    case FilteringBehavior::kEndpointIndependent: return "endpoint-independent";
    case FilteringBehavior::kAddressDependent: return "address-dependent";
    case FilteringBehavior::kAddressAndPortDependent: return "address-and-port-dependent";
    case FilteringBehavior::kEndpointOrAddressDependent: return "endpoint-or-address-dependent";
  }
  return "unknown";
}

std::string_view toString(TestKind k) {
  switch (k) {
    case TestKind::kBinding: return "binding";
    case TestKind::kFilterChangeIpPort: return "filtering-change-ip-port";
    case TestKind::kFilterChangePort: return "filtering-change-port";
    case TestKind::kMappingAltAddress: return "mapping-alt-address";
    case TestKind::kMappingAltBoth: return "mapping-alt-address-alt-port";
    case TestKind::kMappingAltPort: return "mapping-alt-port";
  }
  return "unknown";
}

NatDiscovery::NatDiscovery(NatDiscoveryConfig config, IdSource new_transaction_id)
    : config_(std::move(config)), new_id_(std::move(new_transaction_id)) {
  report_.local = config_.local;
}

void NatDiscovery::start(TimePoint now) {
  if (phase_ != Phase::kIdle) {
    return;
  }
  phase_ = Phase::kBinding;
  launch(now, TestKind::kBinding, config_.server, false, false);
}

void NatDiscovery::launch(TimePoint now, TestKind kind, const Endpoint& to, bool change_ip,
                          bool change_port) {
  TestRecord rec;
  rec.kind = kind;
  rec.to = to;
  rec.change_ip = change_ip;
  rec.change_port = change_port;
  report_.tests.push_back(rec);
  Pending p;
  p.record = report_.tests.size() - 1;
  p.txid = new_id_();
  p.first_sent = now;
  p.next_send = now;
  p.give_up = now + config_.test_budget;
  p.rto = config_.initial_rto;
  transmit(p);
  pending_.push_back(p);
}

void NatDiscovery::transmit(Pending& p) {
  TestRecord& rec = report_.tests[p.record];
  protocol::BindingRequestParams params;
  params.transaction_id = p.txid;
  params.change_ip = rec.change_ip;
  params.change_port = rec.change_port;
  params.pad_to = protocol::kStunPaddedRequestSize;  // answered at 1x, never rate-limited
  std::vector<std::uint8_t> buf(protocol::kStunMaxBuiltSize);
  protocol::StunBuildOptions opts;
  opts.software = std::string_view(config_.software)
                      .substr(0, std::min(config_.software.size(), protocol::kStunMaxSoftwareSize));
  std::size_t n = protocol::buildBindingRequest(params, buf, opts);
  buf.resize(n);
  outgoing_.push_back(OutgoingRequest{rec.to, std::move(buf)});
  ++rec.transmissions;
  p.next_send = p.next_send + p.rto;
  p.rto = p.rto * 2;
}

void NatDiscovery::onDatagram(TimePoint now, const Endpoint& from,
                              std::span<const std::uint8_t> bytes) {
  auto parsed = protocol::parseStun(bytes);
  if (!parsed) {
    ++report_.ignored_datagrams;
    return;
  }
  const protocol::StunMessage& m = *parsed;
  auto cls = m.messageClass();
  bool is_response = cls == protocol::StunClass::kSuccess || cls == protocol::StunClass::kError;
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&](const Pending& p) { return p.txid == m.transaction_id; });
  if (!is_response || m.method() != protocol::stunMethod(protocol::kStunBindingRequest) ||
      it == pending_.end()) {
    ++report_.ignored_datagrams;
    return;
  }
  TestRecord& rec = report_.tests[it->record];
  if (cls == protocol::StunClass::kSuccess) {
    // RFC 8489 §7.3.3: unknown comprehension-required attributes in a success response mean
    // the response is discarded; so is one without the mapped address we asked for.
    if (m.unknown_required_count > 0 || !m.reflexive()) {
      ++report_.ignored_datagrams;
      return;
    }
    rec.mapped = m.reflexive();
    rec.answered_from = from;
    bool unchanged = isChangeTest(rec.kind) &&
                     ((rec.change_ip && from.address() == rec.to.address()) ||
                      (rec.change_port && from.port() == rec.to.port()));
    rec.outcome = unchanged ? TestOutcome::kAnsweredUnchanged : TestOutcome::kAnswered;
    if (rec.kind == TestKind::kBinding) {
      report_.server_other_address = m.other_address;
    }
  } else {
    if (!m.error) {
      ++report_.ignored_datagrams;
      return;
    }
    rec.answered_from = from;
    rec.error_code = m.error->code;
    rec.outcome = TestOutcome::kErrorResponse;
  }
  rec.rtt = duration_cast<milliseconds>(now - it->first_sent);
  pending_.erase(it);
  advance(now);
}

void NatDiscovery::onTimer(TimePoint now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= it->give_up) {
      report_.tests[it->record].outcome = TestOutcome::kTimedOut;
      it = pending_.erase(it);
      continue;
    }
    if (now >= it->next_send && it->next_send < it->give_up) {
      transmit(*it);
    }
    ++it;
  }
  advance(now);
}

std::vector<OutgoingRequest> NatDiscovery::takeOutgoing() {
  std::vector<OutgoingRequest> out;
  out.swap(outgoing_);
  return out;
}

std::optional<TimePoint> NatDiscovery::nextDeadline() const {
  if (phase_ == Phase::kDone || pending_.empty()) {
    return std::nullopt;
  }
  std::optional<TimePoint> d;
  for (const auto& p : pending_) {
    TimePoint t = p.next_send < p.give_up ? p.next_send : p.give_up;
    if (!d || t < *d) {
      d = t;
    }
  }
  return d;
}

const TestRecord* NatDiscovery::find(TestKind k) const {
  for (const auto& t : report_.tests) {
    if (t.kind == k) {
      return &t;
    }
  }
  return nullptr;
}

void NatDiscovery::advance(TimePoint now) {
  if (!pending_.empty()) {
    return;
  }
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kDone:
      return;
    case Phase::kBinding: {
      const TestRecord* t1 = find(TestKind::kBinding);
      if (t1 == nullptr || t1->outcome != TestOutcome::kAnswered) {
        if (t1 != nullptr && t1->outcome == TestOutcome::kErrorResponse) {
          report_.udp_ok = true;
          report_.notes.push_back("the server answered the Binding request with error " +
                                  std::to_string(t1->error_code.value_or(0)) +
                                  "; no public endpoint learned");
        }
        finish();
        return;
      }
      report_.udp_ok = true;
      report_.public_endpoint = t1->mapped;
      if (config_.local) {
        report_.behind_nat = *t1->mapped != *config_.local;
      }
      if (const auto& other = report_.server_other_address) {
        report_.server_alt_address = other->address() != config_.server.address();
        report_.server_alt_port = other->port() != config_.server.port();
        if (report_.server_alt_port) {
          alt_port_ = other->port();
        }
      } else {
        // RFC 5780 servers send OTHER-ADDRESS only when they have a second address. One with
        // an alternate port alone still honours CHANGE-REQUEST port: its answer names the port.
        report_.notes.push_back("the server sent no OTHER-ADDRESS (it has no alternate "
                                "address): asking it to answer from another port");
      }
      if (report_.server_other_address && !report_.server_alt_address &&
          !report_.server_alt_port) {
        report_.notes.push_back(
            "the server's OTHER-ADDRESS is its own address: mapping and filtering behaviour "
            "can't be tested");
        finish();
        return;
      }
      startFiltering(now);
      return;
    }
    case Phase::kFiltering:
      startMapping(now);
      return;
    case Phase::kMapping:
      finish();
      return;
  }
}

void NatDiscovery::startFiltering(TimePoint now) {
  phase_ = Phase::kFiltering;
  if (report_.server_alt_address && report_.server_alt_port) {
    report_.filtering_tested_with_address = true;
    launch(now, TestKind::kFilterChangeIpPort, config_.server, true, true);
    launch(now, TestKind::kFilterChangePort, config_.server, false, true);
  } else if (report_.server_alt_port || !report_.server_other_address) {
    launch(now, TestKind::kFilterChangePort, config_.server, false, true);
  } else {
    report_.filtering_tested_with_address = true;
    launch(now, TestKind::kFilterChangeIpPort, config_.server, true, false);
  }
}

void NatDiscovery::startMapping(TimePoint now) {
  phase_ = Phase::kMapping;
  if (!report_.server_other_address) {
    // Without OTHER-ADDRESS the alternate port is known only from a change-port answer.
    const TestRecord* f = find(TestKind::kFilterChangePort);
    if (f != nullptr && f->outcome == TestOutcome::kAnswered && f->answered_from &&
        f->answered_from->address() == config_.server.address()) {
      alt_port_ = f->answered_from->port();
      report_.server_alt_port = true;
      report_.notes.push_back("learned the server's alternate port " +
                              std::to_string(*alt_port_) + " from its change-port answer");
    }
  }
  if (!report_.server_alt_address && !alt_port_) {
    report_.notes.push_back("the server's alternate port is unknown (no OTHER-ADDRESS, and the "
                            "change-port test gave no usable answer): mapping behaviour unknown");
    finish();
    return;
  }
  const Endpoint other = report_.server_other_address
                             ? *report_.server_other_address
                             : Endpoint(config_.server.address(), *alt_port_);
  if (report_.server_alt_address) {
    report_.mapping_tested_across_addresses = true;
    launch(now, TestKind::kMappingAltAddress, Endpoint(other.address(), config_.server.port()),
           false, false);
    if (report_.server_alt_port) {
      launch(now, TestKind::kMappingAltBoth, other, false, false);
    }
  } else {
    launch(now, TestKind::kMappingAltPort, Endpoint(config_.server.address(), *alt_port_), false,
           false);
  }
}

void NatDiscovery::finish() {
  phase_ = Phase::kDone;
  pending_.clear();
  if (report_.udp_ok && report_.public_endpoint) {
    concludeFiltering();
    concludeMapping();
    concludeStride();
  }
  classify();
}

void NatDiscovery::concludeStride() {
  if (report_.mapping == MappingBehavior::kEndpointIndependent ||
      report_.mapping == MappingBehavior::kUnknown) {
    return;
  }
  // A NAT that allocates in sequence gives each new mapping a port one step past the last. The
  // two alternate-address tests leave together, so their ports are one step apart whatever
  // else the host sends meanwhile (their order is unknown); test I's mapping is older, and
  // counts only when it is the one other mapping to compare with.
  auto mapped = [&](TestKind kind) -> std::optional<std::uint16_t> {
    const TestRecord* t = find(kind);
    if (t == nullptr || t->outcome != TestOutcome::kAnswered || !t->mapped ||
        t->mapped->address() != report_.public_endpoint->address()) {
      return std::nullopt;
    }
    return t->mapped->port();
  };
  const int first = report_.public_endpoint->port();
  auto a = mapped(TestKind::kMappingAltAddress);
  auto b = mapped(TestKind::kMappingAltBoth);
  int step = 0;
  if (a && b) {
    if (*a <= first || *b <= first) {
      return;  // not counting upwards from test I's port
    }
    step = *a > *b ? *a - *b : *b - *a;
  } else if (auto p = mapped(TestKind::kMappingAltPort); p && !a && !b) {
    step = *p - first;
  }
  if (step < 1 || step > protocol::kMaxPortStride) {
    return;
  }
  report_.port_stride = static_cast<std::uint8_t>(step);
  report_.notes.push_back("the NAT gave each new mapping the next port (step " +
                          std::to_string(step) +
                          "): with [nat] port_prediction, a peer behind another such NAT can be "
                          "reached directly");
}

void NatDiscovery::concludeFiltering() {
  const TestRecord* both = find(TestKind::kFilterChangeIpPort);
  const TestRecord* port = find(TestKind::kFilterChangePort);
  auto answered = [](const TestRecord* t) {
    return t != nullptr && t->outcome == TestOutcome::kAnswered;
  };
  auto timed_out = [](const TestRecord* t) {
    return t != nullptr && t->outcome == TestOutcome::kTimedOut;
  };
  for (const TestRecord* t : {both, port}) {
    if (t == nullptr) {
      continue;
    }
    if (t->outcome == TestOutcome::kAnsweredUnchanged) {
      report_.notes.push_back("the server ignored CHANGE-REQUEST (answered from the address it "
                              "was asked to change): filtering behaviour unknown");
      return;
    }
    if (t->outcome == TestOutcome::kErrorResponse) {
      report_.notes.push_back("the server refused CHANGE-REQUEST (error " +
                              std::to_string(t->error_code.value_or(0)) +
                              "): filtering behaviour unknown");
      return;
    }
  }
  if (both != nullptr && port != nullptr) {
    if (answered(both)) {
      report_.filtering = FilteringBehavior::kEndpointIndependent;
    } else if (answered(port)) {
      report_.filtering = FilteringBehavior::kAddressDependent;
    } else if (timed_out(both) && timed_out(port)) {
      report_.filtering = FilteringBehavior::kAddressAndPortDependent;
    }
  } else if (port != nullptr) {
    report_.notes.push_back(
        "the server has no alternate address, so filtering was tested with its alternate port "
        "only: endpoint-independent and address-dependent filtering (full and restricted cone) "
        "can't be told apart");
    if (answered(port)) {
      report_.filtering = FilteringBehavior::kEndpointOrAddressDependent;
    } else if (timed_out(port)) {
      report_.filtering = FilteringBehavior::kAddressAndPortDependent;
    }
  } else if (both != nullptr) {
    report_.notes.push_back("the server has no alternate port: filtering was tested with its "
                            "alternate address only");
    if (answered(both)) {
      report_.filtering = FilteringBehavior::kEndpointIndependent;
    }
  }
}

void NatDiscovery::concludeMapping() {
  const Endpoint m1 = *report_.public_endpoint;
  const TestRecord* alt_addr = find(TestKind::kMappingAltAddress);
  const TestRecord* alt_both = find(TestKind::kMappingAltBoth);
  const TestRecord* alt_port = find(TestKind::kMappingAltPort);
  auto mappedOf = [](const TestRecord* t) -> std::optional<Endpoint> {
    if (t == nullptr || t->outcome != TestOutcome::kAnswered) {
      return std::nullopt;
    }
    return t->mapped;
  };
  if (alt_addr != nullptr) {
    auto m2 = mappedOf(alt_addr);
    if (!m2) {
      report_.notes.push_back("no answer from the server's alternate address: mapping behaviour "
                              "unknown");
      return;
    }
    if (*m2 == m1) {
      report_.mapping = MappingBehavior::kEndpointIndependent;
      return;
    }
    if (alt_both == nullptr) {
      report_.mapping = MappingBehavior::kAddressDependent;
      report_.notes.push_back("the server has no alternate port: the mapping depends on the "
                              "address at least; port dependence was not tested");
      return;
    }
    auto m3 = mappedOf(alt_both);
    if (!m3) {
      report_.notes.push_back("no answer from the server's alternate address and port: mapping "
                              "is address-dependent at least");
      report_.mapping = MappingBehavior::kAddressDependent;
      return;
    }
    report_.mapping = *m3 == *m2 ? MappingBehavior::kAddressDependent
                                 : MappingBehavior::kAddressAndPortDependent;
    return;
  }
  if (alt_port != nullptr) {
    auto m2 = mappedOf(alt_port);
    if (!m2) {
      report_.notes.push_back("no answer from the server's alternate port: mapping behaviour "
                              "unknown");
      return;
    }
    if (*m2 == m1) {
      report_.mapping = MappingBehavior::kEndpointIndependent;
      report_.notes.push_back(
          "the server has no alternate address, so mapping was tested across its ports only: an "
          "address-dependent mapping would look endpoint-independent");
    } else {
      report_.mapping = MappingBehavior::kAddressAndPortDependent;
    }
  }
}

void NatDiscovery::classify() {
  NatType& t = report_.nat_type;
  if (!report_.udp_ok) {
    t = NatType::kUdpBlocked;
    return;
  }
  if (!report_.public_endpoint) {
    t = NatType::kUnknown;
    return;
  }
  const auto f = report_.filtering;
  if (report_.behind_nat == false) {
    switch (f) {
      case FilteringBehavior::kEndpointIndependent:
        t = NatType::kOpen;
        break;
      case FilteringBehavior::kEndpointOrAddressDependent:
        t = NatType::kOpen;
        report_.notes.push_back("no NAT; a firewall that filters by address alone would not "
                                "have been detected (port-only test)");
        break;
      case FilteringBehavior::kAddressDependent:
      case FilteringBehavior::kAddressAndPortDependent:
        t = NatType::kOpenWithFirewall;
        break;
      case FilteringBehavior::kUnknown:
        t = NatType::kUnknown;
        break;
    }
    return;
  }
  if (!report_.behind_nat) {
    report_.notes.push_back("the local address is unknown, so a NAT is assumed");
  }
  switch (report_.mapping) {
    case MappingBehavior::kUnknown:
      t = NatType::kUnknown;
      return;
    case MappingBehavior::kAddressDependent:
    case MappingBehavior::kAddressAndPortDependent:
      t = NatType::kSymmetric;
      return;
    case MappingBehavior::kEndpointIndependent:
      break;
  }
  switch (f) {
    case FilteringBehavior::kEndpointIndependent: t = NatType::kFullCone; break;
    case FilteringBehavior::kAddressDependent: t = NatType::kRestrictedCone; break;
    case FilteringBehavior::kAddressAndPortDependent: t = NatType::kPortRestrictedCone; break;
    case FilteringBehavior::kEndpointOrAddressDependent: t = NatType::kFullOrRestrictedCone; break;
    case FilteringBehavior::kUnknown: t = NatType::kUnknown; break;
  }
}

}  // namespace vpn::netcheck
