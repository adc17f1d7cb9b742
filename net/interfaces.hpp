#pragma once
// The machine's own interface addresses, for the local (LAN) candidates a peer announces to the
// rendezvous: peers behind the same NAT then reach each other directly, without hairpinning.
// Skips interfaces that are down, loopback, IPv6 link-local addresses and the interfaces named in
// `exclude` (our own TUN device: announcing overlay addresses as underlay would loop).
// Reads the kernel's table once per call (getifaddrs); never throws; an error gives an empty list.
#include <string>
#include <vector>

#include "protocol/ip_address.hpp"

namespace vpn::net {

std::vector<protocol::IpAddress> interfaceAddresses(const std::vector<std::string>& exclude);

}  // namespace vpn::net
