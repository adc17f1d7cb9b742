#include "tun/interface_config.hpp"

#include <net/if.h>
#include <sys/socket.h>

#include "tun/netlink_message.hpp"

namespace vpn::tun {
namespace {

// The socket replaces the sequence number; builders just need a placeholder.
constexpr std::uint32_t kSeq = 0;

}  // namespace

int interfaceIndex(const std::string& ifname) {
  unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) {
    throw TunError("no network interface named " + ifname);
  }
  return static_cast<int>(index);
}

void configureInterface(NetlinkSocket& nl, const std::string& ifname,
                        std::span<const protocol::IpPrefix> addresses, int mtu) {
  int index = interfaceIndex(ifname);
  if (mtu > 0) {
    try {
      nl.request(netlink::buildSetLink(kSeq, index, mtu, false));
    } catch (const TunError& e) {
      throw TunError("cannot set MTU " + std::to_string(mtu) + " on " + ifname + ": " + e.what());
    }
  }
  for (const auto& prefix : addresses) {
    try {
      nl.request(netlink::buildNewAddress(kSeq, index, prefix));
    } catch (const TunError& e) {
      throw TunError("cannot add address " + prefix.toString() + " to " + ifname + ": " +
                     e.what());
    }
  }
  try {
    nl.request(netlink::buildSetLink(kSeq, index, 0, true));
  } catch (const TunError& e) {
    throw TunError("cannot bring " + ifname + " up: " + std::string(e.what()));
  }
}

void addRoute(NetlinkSocket& nl, const std::string& ifname, const protocol::IpPrefix& destination) {
  int index = interfaceIndex(ifname);
  try {
    nl.request(netlink::buildNewRoute(kSeq, index, destination));
  } catch (const TunError& e) {
    throw TunError("cannot add route " + destination.network().toString() + " via " + ifname +
                   ": " + e.what());
  }
}

void deleteRoute(NetlinkSocket& nl, const std::string& ifname,
                 const protocol::IpPrefix& destination) {
  int index = interfaceIndex(ifname);
  try {
    nl.request(netlink::buildDelRoute(kSeq, index, destination));
  } catch (const TunError& e) {
    throw TunError("cannot delete route " + destination.network().toString() + " via " + ifname +
                   ": " + e.what());
  }
}

std::vector<protocol::IpPrefix> listAddresses(NetlinkSocket& nl, const std::string& ifname) {
  int index = interfaceIndex(ifname);
  std::vector<protocol::IpPrefix> out;
  for (const auto& msg : nl.dump(netlink::buildGetAddressDump(kSeq, AF_UNSPEC))) {
    auto entry = netlink::parseAddress(msg);
    if (entry && entry->ifindex == index) {
      out.push_back(entry->prefix);
    }
  }
  return out;
}

}  // namespace vpn::tun
