#pragma once
// A scripted world for NatDiscovery tests: a STUN server with a primary and an alternate port
// (optionally an alternate address) behind a NAT of a chosen mapping and filtering, with
// instantaneous deliveries; drive() runs a discovery in it to the end on a virtual clock.
// Test code only: single-threaded, no I/O.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "client/netcheck/nat_discovery.hpp"

namespace vpn::netcheck::nattest {

using namespace std::chrono_literals;
using protocol::IpAddress;

inline Endpoint ep(const char* s) {
  auto e = Endpoint::parse(s);
  EXPECT_TRUE(e.has_value()) << s;
  return e.value_or(Endpoint{});
}

enum class Mapping { kNone, kEndpointIndependent, kAddressDependent, kAddressAndPortDependent };
enum class Filtering { kNone, kAddressDependent, kAddressAndPortDependent, kBlockAll };

// A STUN server with a primary and alternate port, optionally an alternate address, behind which
// (from our side) sits a NAT of the given behaviour. Deliveries are instantaneous.
struct World {
  Endpoint local = ep("192.168.1.10:5000");
  IpAddress public_ip = *IpAddress::parse("198.51.100.1");
  Endpoint primary = ep("203.0.113.1:3478");
  IpAddress alt_ip = *IpAddress::parse("203.0.113.2");
  std::uint16_t alt_port = 3479;
  bool server_alt_ip = true;
  bool server_alt_port = true;
  bool server_other_address = true;     // sends OTHER-ADDRESS at all
  bool server_ignores_change = false;   // answers CHANGE-REQUEST from the primary
  bool server_can_change_ip = true;     // false: advertises alt_ip but answers 420 to change-ip
  Mapping mapping = Mapping::kAddressAndPortDependent;
  Filtering filtering = Filtering::kAddressAndPortDependent;
  // Drops a request before it reaches the server: (test destination, transmission index).
  std::function<bool(const Endpoint&, int)> drop_request = [](const Endpoint&, int) {
    return false;
  };

  std::map<std::pair<IpAddress, std::uint16_t>, std::uint16_t> nat_ports;
  std::set<Endpoint> contacted;
  std::map<Endpoint, int> sends_to;
  std::uint16_t next_port = 40000;
  std::uint16_t port_step = 1;  // a NAT that allocates in sequence, this far apart
  bool scattered_ports = false;  // a NAT that randomizes: far-apart, unordered ports

  Endpoint mapFor(const Endpoint& dst) {
    if (mapping == Mapping::kNone) {
      return local;
    }
    std::pair<IpAddress, std::uint16_t> key{IpAddress{}, 0};
    if (mapping == Mapping::kAddressDependent) {
      key = {dst.address(), 0};
    } else if (mapping == Mapping::kAddressAndPortDependent) {
      key = {dst.address(), dst.port()};
    }
    auto it = nat_ports.find(key);
    if (it == nat_ports.end()) {
      std::uint16_t port = next_port;
      next_port = static_cast<std::uint16_t>(next_port + port_step);
      if (scattered_ports) {
        port = static_cast<std::uint16_t>(40000 + (nat_ports.size() * 7919) % 20000);
      }
      it = nat_ports.emplace(key, port).first;
    }
    return Endpoint(public_ip, it->second);
  }

  bool filterAllows(const Endpoint& src) const {
    switch (filtering) {
      case Filtering::kNone: return true;
      case Filtering::kBlockAll: return false;
      case Filtering::kAddressDependent:
        for (const auto& c : contacted) {
          if (c.address() == src.address()) {
            return true;
          }
        }
        return false;
      case Filtering::kAddressAndPortDependent: return contacted.count(src) != 0;
    }
    return false;
  }

  bool serves(const Endpoint& to) const {
    bool ip_ok = to.address() == primary.address() || (server_alt_ip && to.address() == alt_ip);
    bool port_ok = to.port() == primary.port() || (server_alt_port && to.port() == alt_port);
    return ip_ok && port_ok;
  }

  // Returns the response that reaches us, if any.
  std::optional<std::pair<Endpoint, std::vector<std::uint8_t>>> deliver(
      const OutgoingRequest& req) {
    int n = sends_to[req.to]++;
    if (filtering == Filtering::kBlockAll) {
      return std::nullopt;
    }
    contacted.insert(req.to);
    Endpoint mapped = mapFor(req.to);
    if (drop_request(req.to, n) || !serves(req.to)) {
      return std::nullopt;
    }
    auto m = protocol::parseStun(req.bytes);
    EXPECT_TRUE(m.ok());
    if (!m.ok()) {
      return std::nullopt;
    }
    EXPECT_EQ(m->type, protocol::kStunBindingRequest);
    std::vector<std::uint8_t> out(protocol::kStunMaxBuiltSize);
    std::size_t size = 0;
    Endpoint src = req.to;
    auto action = protocol::classifyStunRequest(*m, server_alt_ip && server_can_change_ip,
                                                server_alt_port);
    if (server_ignores_change) {
      action = protocol::StunServerAction::kAnswer;
    }
    if (action == protocol::StunServerAction::kCannotChange) {
      std::uint16_t attr = protocol::kStunAttrChangeRequest;
      size = protocol::buildBindingError(*m, 420, "", std::span(&attr, 1), out);
    } else {
      EXPECT_EQ(action, protocol::StunServerAction::kAnswer);
      if (!server_ignores_change) {
        if (m->change_ip) {
          src = Endpoint(src.address() == alt_ip ? primary.address() : alt_ip, src.port());
        }
        if (m->change_port) {
          src = Endpoint(src.address(),
                         src.port() == alt_port ? primary.port() : alt_port);
        }
      }
      std::optional<Endpoint> other;
      if (server_other_address && (server_alt_ip || server_alt_port)) {
        other = Endpoint(server_alt_ip ? alt_ip : primary.address(), alt_port);
      }
      size = protocol::buildBindingResponse(*m, mapped, src, other, out);
    }
    EXPECT_GT(size, 0u);
    out.resize(size);
    if (!filterAllows(src)) {
      return std::nullopt;
    }
    return std::make_pair(src, out);
  }
};

struct Run {
  NetcheckReport report;
  std::vector<std::pair<std::chrono::milliseconds, Endpoint>> sends;  // (time, to)
  std::chrono::milliseconds elapsed{0};
};

inline Run drive(World& w, NatDiscoveryConfig cfg = {},
          std::function<void(NatDiscovery&, TimePoint)> inject = nullptr) {
  if (cfg.server == Endpoint{}) {
    cfg.server = w.primary;
  }
  if (!cfg.local) {
    cfg.local = w.local;
  }
  std::uint8_t counter = 0;
  NatDiscovery nd(cfg, [&counter] {
    protocol::StunTransactionId id{};
    id.fill(0xA5);
    id[11] = ++counter;
    return id;
  });
  const TimePoint t0{};
  TimePoint now = t0;
  Run run;
  nd.start(now);
  for (int guard = 0; guard < 1000 && !nd.done(); ++guard) {
    for (auto& req : nd.takeOutgoing()) {
      run.sends.emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(now - t0),
                             req.to);
      if (inject) {
        inject(nd, now);
      }
      if (auto resp = w.deliver(req)) {
        nd.onDatagram(now + 20ms, resp->first, resp->second);
      }
    }
    if (nd.done()) {
      break;
    }
    auto d = nd.nextDeadline();
    if (!d) {
      // Answers came in: new requests may be queued already.
      continue;
    }
    now = *d;
    nd.onTimer(now);
  }
  EXPECT_TRUE(nd.done());
  EXPECT_FALSE(nd.nextDeadline());
  run.report = nd.report();
  run.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - t0);
  return run;
}

}  // namespace vpn::netcheck::nattest
