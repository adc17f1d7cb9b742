#pragma once
// SimulatedNat: a NAT (RFC 4787 vocabulary) in front of a private subnet of a SimNetwork, and
// NatFabric, which installs any number of them into the network's on_route / on_deliver hooks.
//
// Mapping: endpoint-independent (one public port per private endpoint, whatever the destination)
// or address-and-port-dependent ("symmetric": a new public port per destination endpoint).
// Filtering of inbound datagrams on a mapping: endpoint-independent (full cone), address-dependent
// (restricted cone: from an address the mapping has sent to) or address-and-port-dependent
// (port-restricted: from an endpoint it has sent to). Mappings and their permissions expire after
// `mapping_timeout` without outbound traffic (inbound traffic does not refresh, as RFC 4787 allows).
// Hosts behind the same NAT reach each other by their private addresses (a LAN, no translation);
// nobody outside reaches a private address. No hairpinning (the fabric does not special-case it;
// a datagram to our own public address is filtered like any inbound one).
// Translation happens outbound at send time and inbound at arrival time. TCP connections from
// inside get the public address and a fresh port (outbound TCP always passes; nothing inbound is
// forwarded). `block_udp` models a firewall that drops all UDP leaving the private net.
// The behaviour may change mid-run (setBehaviour), keeping the mappings. A port forward (what a
// router's PCP, NAT-PMP or UPnP mapping installs) sends everything arriving on its public port to
// one inside endpoint, whatever the filtering, and the answers to it leave from that port, as
// the reverse of a DNAT rule would. Not thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/fakes/sim_network.hpp"

namespace vpn::test {

enum class NatMapping { kEndpointIndependent, kAddressAndPortDependent };
enum class NatFiltering { kEndpointIndependent, kAddressDependent, kAddressAndPortDependent };

struct NatConfig {
  std::string name;
  protocol::IpAddress public_address;
  protocol::IpPrefix private_net;
  NatMapping mapping = NatMapping::kEndpointIndependent;
  NatFiltering filtering = NatFiltering::kAddressAndPortDependent;
  Duration mapping_timeout = seconds(30);
  std::uint16_t first_port = 40000;
  // Nonzero: each new mapping gets a random free port in [first_port, first_port + this) (a
  // NAT that randomizes, as Linux's fully-random does) instead of the next one in order.
  std::uint32_t random_port_range = 0;
  // In order (random_port_range 0): each new mapping's port is this far past the last one.
  std::uint16_t port_step = 1;
  std::uint64_t random_seed = 1;
  bool block_udp = false;
};

// The four classic types, for test tables.
enum class NatType { kFullCone, kRestrictedCone, kPortRestrictedCone, kSymmetric };
const char* toString(NatType t);
NatConfig natConfig(NatType t, std::string name, const protocol::IpAddress& public_address,
                    const protocol::IpPrefix& private_net);

class SimulatedNat {
 public:
  explicit SimulatedNat(NatConfig cfg) : cfg_(std::move(cfg)) {}

  const NatConfig& config() const { return cfg_; }
  bool isInside(const protocol::IpAddress& a) const { return cfg_.private_net.contains(a); }
  // A datagram leaving a host: translate if it leaves the private net. False: dropped.
  bool outbound(Instant now, Datagram& d);
  // A datagram arriving: translate if it is for our public address; drop what the filter refuses
  // and what an outsider sends to a private address. False: dropped.
  bool inbound(Instant now, Datagram& d);

  // The apparent source of a new TCP connection from `inside`.
  protocol::Endpoint tcpConnect(const protocol::Endpoint& inside) {
    (void)inside;
    return protocol::Endpoint(cfg_.public_address, static_cast<std::uint16_t>(50000 + next_tcp_port_++));
  }
  // New mappings from now on get random ports in [first, first + range) (NatConfig).
  void randomizePorts(std::uint16_t first, std::uint32_t range, std::uint64_t seed) {
    cfg_.first_port = first;
    cfg_.random_port_range = range;
    cfg_.random_seed = seed;
    rng_ = 0;
  }
  void setPortStep(std::uint16_t step) { cfg_.port_step = step; }
  // Other hosts behind us took `n` ports (in order allocation): the next mapping skips them.
  void skipPorts(std::uint16_t n) { next_port_ = static_cast<std::uint16_t>(next_port_ + n); }
  void setBehaviour(NatMapping mapping, NatFiltering filtering) {
    cfg_.mapping = mapping;
    cfg_.filtering = filtering;
  }
  void setType(NatType t);
  void setBlockUdp(bool block) { cfg_.block_udp = block; }
  void addPortForward(std::uint16_t public_port, const protocol::Endpoint& inside) {
    forwards_[public_port] = inside;
  }

  std::size_t activeMappings(Instant now) const;
  std::uint64_t filtered() const { return filtered_; }
  void clear() { mappings_.clear(); }

 private:
  struct Mapping {
    protocol::Endpoint inside;
    protocol::Endpoint outside_dest;  // symmetric mappings only
    std::uint16_t public_port = 0;
    Instant refreshed{};
    std::map<protocol::Endpoint, Instant> permissions;  // destinations sent to, when
  };
  bool alive(const Mapping& m, Instant now) const { return now - m.refreshed < cfg_.mapping_timeout; }

  NatConfig cfg_;
  std::vector<Mapping> mappings_;
  std::map<std::uint16_t, protocol::Endpoint> forwards_;
  std::uint16_t next_port_ = 0;
  std::uint64_t rng_ = 0;  // random_port_range: a splitmix64 state
  std::uint16_t next_tcp_port_ = 0;
  std::uint64_t filtered_ = 0;
};

class NatFabric {
 public:
  explicit NatFabric(SimNetwork& net);
  ~NatFabric();
  NatFabric(const NatFabric&) = delete;
  NatFabric& operator=(const NatFabric&) = delete;

  SimulatedNat& add(NatConfig cfg);

 private:
  SimNetwork& net_;
  std::vector<std::unique_ptr<SimulatedNat>> nats_;
};

}  // namespace vpn::test
