#include "tests/fakes/simulated_nat.hpp"

#include <algorithm>

namespace vpn::test {

const char* toString(NatType t) {
  switch (t) {
    case NatType::kFullCone: return "full_cone";
    case NatType::kRestrictedCone: return "restricted";
    case NatType::kPortRestrictedCone: return "port_restricted";
    case NatType::kSymmetric: return "symmetric";
  }
  return "?";
}

NatConfig natConfig(NatType t, std::string name, const protocol::IpAddress& public_address,
                    const protocol::IpPrefix& private_net) {
  NatConfig c;
  c.name = std::move(name);
  c.public_address = public_address;
  c.private_net = private_net;
  switch (t) {
    case NatType::kFullCone:
      c.filtering = NatFiltering::kEndpointIndependent;
      break;
    case NatType::kRestrictedCone:
      c.filtering = NatFiltering::kAddressDependent;
      break;
    case NatType::kPortRestrictedCone:
      c.filtering = NatFiltering::kAddressAndPortDependent;
      break;
    case NatType::kSymmetric:
      c.mapping = NatMapping::kAddressAndPortDependent;
      c.filtering = NatFiltering::kAddressAndPortDependent;
      break;
  }
  return c;
}

void SimulatedNat::setType(NatType t) {
  NatConfig c = natConfig(t, cfg_.name, cfg_.public_address, cfg_.private_net);
  setBehaviour(c.mapping, c.filtering);
}

bool SimulatedNat::outbound(Instant now, Datagram& d) {
  if (!isInside(d.from.address()) || isInside(d.to.address())) {
    return true;  // not ours, or LAN traffic
  }
  if (cfg_.block_udp) {
    ++filtered_;
    return false;
  }
  bool symmetric = cfg_.mapping == NatMapping::kAddressAndPortDependent;
  Mapping* m = nullptr;
  for (auto& cand : mappings_) {
    if (cand.inside == d.from && alive(cand, now) && (!symmetric || cand.outside_dest == d.to)) {
      m = &cand;
      break;
    }
  }
  if (m == nullptr) {
    std::erase_if(mappings_, [&](const Mapping& x) { return !alive(x, now); });
    Mapping fresh;
    fresh.inside = d.from;
    fresh.outside_dest = symmetric ? d.to : protocol::Endpoint{};
    if (cfg_.random_port_range != 0) {
      if (rng_ == 0) {
        rng_ = cfg_.random_seed | 1;
      }
      auto taken = [&](std::uint16_t port) {
        return std::any_of(mappings_.begin(), mappings_.end(),
                           [&](const Mapping& x) { return x.public_port == port; });
      };
      do {
        rng_ += 0x9E3779B97F4A7C15ull;  // splitmix64
        std::uint64_t z = rng_;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        fresh.public_port =
            static_cast<std::uint16_t>(cfg_.first_port + z % cfg_.random_port_range);
      } while (taken(fresh.public_port));
    } else {
      fresh.public_port =
          static_cast<std::uint16_t>(cfg_.first_port + cfg_.port_step * next_port_++);
    }
    mappings_.push_back(fresh);
    m = &mappings_.back();
  }
  m->refreshed = now;
  m->permissions[d.to] = now;
  d.from = protocol::Endpoint(cfg_.public_address, m->public_port);
  return true;
}

bool SimulatedNat::inbound(Instant now, Datagram& d) {
  if (isInside(d.to.address())) {
    if (isInside(d.from.address())) {
      return true;  // LAN
    }
    ++filtered_;
    return false;  // nobody outside routes to our private net
  }
  if (!(d.to.address() == cfg_.public_address)) {
    return true;
  }
  if (auto f = forwards_.find(d.to.port()); f != forwards_.end()) {
    // The answers to this sender leave from the forwarded port (a mapping made for them).
    bool symmetric = cfg_.mapping == NatMapping::kAddressAndPortDependent;
    auto same = [&](const Mapping& m) {
      return m.inside == f->second && m.public_port == f->first &&
             (!symmetric || m.outside_dest == d.from);
    };
    auto it = std::find_if(mappings_.begin(), mappings_.end(), same);
    if (it == mappings_.end()) {
      Mapping m;
      m.inside = f->second;
      m.outside_dest = symmetric ? d.from : protocol::Endpoint{};
      m.public_port = f->first;
      mappings_.push_back(m);
      it = std::prev(mappings_.end());
    }
    it->refreshed = now;
    it->permissions[d.from] = now;
    d.to = f->second;
    return true;
  }
  for (auto& m : mappings_) {
    if (m.public_port != d.to.port() || !alive(m, now)) {
      continue;
    }
    bool allowed = false;
    for (const auto& [dest, at] : m.permissions) {
      if (now - at >= cfg_.mapping_timeout) {
        continue;
      }
      switch (cfg_.filtering) {
        case NatFiltering::kEndpointIndependent:
          allowed = true;
          break;
        case NatFiltering::kAddressDependent:
          allowed = allowed || dest.address() == d.from.address();
          break;
        case NatFiltering::kAddressAndPortDependent:
          allowed = allowed || dest == d.from;
          break;
      }
    }
    if (!allowed) {
      break;
    }
    d.to = m.inside;
    return true;
  }
  ++filtered_;
  return false;
}

std::size_t SimulatedNat::activeMappings(Instant now) const {
  return static_cast<std::size_t>(
      std::count_if(mappings_.begin(), mappings_.end(), [&](const Mapping& m) { return alive(m, now); }));
}

NatFabric::NatFabric(SimNetwork& net) : net_(net) {
  net_.on_route = [this](Datagram& d) {
    for (auto& nat : nats_) {
      if (!nat->outbound(net_.clock().now(), d)) {
        return false;
      }
    }
    return true;
  };
  net_.on_tcp_connect = [this](const protocol::Endpoint& from) {
    for (auto& nat : nats_) {
      if (nat->isInside(from.address())) {
        return nat->tcpConnect(from);
      }
    }
    return from;
  };
  net_.on_deliver = [this](Datagram& d) {
    for (auto& nat : nats_) {
      if (!nat->inbound(net_.clock().now(), d)) {
        return false;
      }
    }
    return true;
  };
}

NatFabric::~NatFabric() {
  net_.on_route = nullptr;
  net_.on_deliver = nullptr;
  net_.on_tcp_connect = nullptr;
}

SimulatedNat& NatFabric::add(NatConfig cfg) {
  nats_.push_back(std::make_unique<SimulatedNat>(std::move(cfg)));
  return *nats_.back();
}

}  // namespace vpn::test
