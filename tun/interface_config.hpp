#pragma once
// configureInterface: gives a freshly created TUN interface its MTU, addresses and link state.
//
// Order: set the MTU (link still down), add each address with its prefix length (so the kernel
// routes the whole overlay prefix to the device), then bring the link up. Extra routes are added
// with addRoute.
// Threading/blocking: blocking netlink calls on the calling thread; start-up path only.
// Errors: throws TunError with one clear sentence naming the interface and the step, e.g.
// "cannot add address 10.42.0.1/24 to vpn0: File exists". A partially configured interface is
// left as is; it disappears when the TUN fd is closed.
#include <span>
#include <string>
#include <vector>

#include "protocol/ip_address.hpp"
#include "tun/netlink_socket.hpp"

namespace vpn::tun {

// if_nametoindex wrapper; throws TunError("no network interface named vpn0") if absent.
int interfaceIndex(const std::string& ifname);

// mtu <= 0 leaves the MTU unchanged. Note that an MTU below 1280 disables IPv6 on the link, so
// IPv6 addresses then fail to be added.
void configureInterface(NetlinkSocket& nl, const std::string& ifname,
                        std::span<const protocol::IpPrefix> addresses, int mtu);

// Routes destination out of ifname (scope link, main table).
void addRoute(NetlinkSocket& nl, const std::string& ifname, const protocol::IpPrefix& destination);
void deleteRoute(NetlinkSocket& nl, const std::string& ifname,
                 const protocol::IpPrefix& destination);

// Every address currently on ifname (RTM_GETADDR dump filtered by index).
std::vector<protocol::IpPrefix> listAddresses(NetlinkSocket& nl, const std::string& ifname);

}  // namespace vpn::tun
