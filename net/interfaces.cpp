#include "net/interfaces.hpp"

#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>

#include "net/sockaddr.hpp"

namespace vpn::net {

std::vector<protocol::IpAddress> interfaceAddresses(const std::vector<std::string>& exclude) {
  std::vector<protocol::IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return out;
  }
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0 ||
        (i->ifa_flags & IFF_LOOPBACK) != 0) {
      continue;
    }
    if (std::find(exclude.begin(), exclude.end(), i->ifa_name) != exclude.end()) {
      continue;
    }
    int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) {
      continue;
    }
    socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    auto ep = fromSockaddr(i->ifa_addr, len);
    if (!ep) {
      continue;
    }
    const auto& a = ep->address();
    if (a.isV6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80) {
      continue;  // link-local needs a zone id; peers cannot use it
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) {
      out.push_back(a);
    }
  }
  freeifaddrs(list);
  return out;
}

}  // namespace vpn::net
