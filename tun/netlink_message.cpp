#include "tun/netlink_message.hpp"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "tun/netlink_attributes.hpp"

namespace vpn::tun::netlink {
namespace {

using detail::align4;
using detail::readStruct;

// Appends structs and attributes to a message and patches nlmsg_len at the end.
class Builder {
 public:
  Builder(std::uint16_t type, std::uint16_t flags, std::uint32_t seq) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = 0;
    append(&h, sizeof h);
  }

  template <typename T>
  void body(const T& value) {
    append(&value, sizeof value);
  }

  void attr(std::uint16_t type, const void* data, std::size_t len) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
    append(&a, sizeof a);
    append(data, len);
  }
  void attrU32(std::uint16_t type, std::uint32_t v) { attr(type, &v, sizeof v); }
  void attrAddress(std::uint16_t type, const protocol::IpAddress& a) {
    attr(type, a.bytes(), a.size());
  }

  Message finish() {
    auto len = static_cast<std::uint32_t>(buf_.size());
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
    return std::move(buf_);
  }

 private:
  void append(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    buf_.resize(align4(buf_.size()), 0);
  }

  Message buf_;
};

std::uint8_t familyOf(const protocol::IpAddress& a) {
  return static_cast<std::uint8_t>(a.isV4() ? AF_INET : AF_INET6);
}

Message addressMessage(std::uint16_t type, std::uint16_t flags, std::uint32_t seq, int ifindex,
                       const protocol::IpPrefix& prefix) {
  Builder b(type, flags, seq);
  ifaddrmsg ifa{};
  ifa.ifa_family = familyOf(prefix.address());
  ifa.ifa_prefixlen = prefix.length();
  ifa.ifa_flags = prefix.address().isV6() ? IFA_F_NODAD : 0;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<std::uint32_t>(ifindex);
  b.body(ifa);
  b.attrAddress(IFA_LOCAL, prefix.address());
  b.attrAddress(IFA_ADDRESS, prefix.address());
  return b.finish();
}

Message routeMessage(std::uint16_t type, std::uint16_t flags, std::uint32_t seq, int ifindex,
                     const protocol::IpPrefix& destination, std::uint8_t scope) {
  protocol::IpPrefix net = destination.network();
  Builder b(type, flags, seq);
  rtmsg rt{};
  rt.rtm_family = familyOf(net.address());
  rt.rtm_dst_len = net.length();
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = scope;
  rt.rtm_type = RTN_UNICAST;
  b.body(rt);
  b.attrAddress(RTA_DST, net.address());
  b.attrU32(RTA_OIF, static_cast<std::uint32_t>(ifindex));
  return b.finish();
}

constexpr std::uint16_t kAckFlags = NLM_F_REQUEST | NLM_F_ACK;
constexpr std::uint16_t kCreateFlags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

}  // namespace

Message buildSetLink(std::uint32_t seq, int ifindex, int mtu, bool up) {
  Builder b(RTM_NEWLINK, kAckFlags, seq);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = up ? static_cast<unsigned>(IFF_UP) : 0u;
  ifi.ifi_change = IFF_UP;
  b.body(ifi);
  if (mtu > 0) {
    b.attrU32(IFLA_MTU, static_cast<std::uint32_t>(mtu));
  }
  return b.finish();
}

Message buildNewAddress(std::uint32_t seq, int ifindex, const protocol::IpPrefix& prefix) {
  return addressMessage(RTM_NEWADDR, kCreateFlags, seq, ifindex, prefix);
}

Message buildDelAddress(std::uint32_t seq, int ifindex, const protocol::IpPrefix& prefix) {
  return addressMessage(RTM_DELADDR, kAckFlags, seq, ifindex, prefix);
}

Message buildNewRoute(std::uint32_t seq, int ifindex, const protocol::IpPrefix& destination) {
  return routeMessage(RTM_NEWROUTE, kCreateFlags, seq, ifindex, destination, RT_SCOPE_LINK);
}

Message buildDelRoute(std::uint32_t seq, int ifindex, const protocol::IpPrefix& destination) {
  return routeMessage(RTM_DELROUTE, kAckFlags, seq, ifindex, destination, RT_SCOPE_NOWHERE);
}

Message buildGetAddressDump(std::uint32_t seq, std::uint8_t family) {
  Builder b(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
  ifaddrmsg ifa{};
  ifa.ifa_family = family;
  b.body(ifa);
  return b.finish();
}

Message buildGetRouteDump(std::uint32_t seq, std::uint8_t family) {
  Builder b(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  rtmsg rt{};
  rt.rtm_family = family;
  b.body(rt);
  return b.finish();
}

bool rewriteSequence(std::span<std::uint8_t> msg, std::uint32_t seq) {
  if (msg.size() < sizeof(nlmsghdr)) {
    return false;
  }
  std::memcpy(msg.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof seq);
  return true;
}

std::optional<std::vector<MessageView>> splitMessages(std::span<const std::uint8_t> datagram) {
  std::vector<MessageView> out;
  std::size_t pos = 0;
  while (pos < datagram.size()) {
    auto rest = datagram.subspan(pos);
    if (rest.size() < sizeof(nlmsghdr)) {
      return std::nullopt;
    }
    auto h = readStruct<nlmsghdr>(rest);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > rest.size()) {
      return std::nullopt;
    }
    MessageView v;
    v.type = h.nlmsg_type;
    v.flags = h.nlmsg_flags;
    v.seq = h.nlmsg_seq;
    v.pid = h.nlmsg_pid;
    v.whole = rest.first(h.nlmsg_len);
    v.payload = v.whole.subspan(sizeof(nlmsghdr));
    out.push_back(v);
    // The last message may omit its alignment padding.
    pos += std::min(align4(h.nlmsg_len), rest.size());
  }
  return out;
}

std::optional<int> parseError(const MessageView& msg) {
  if (msg.type != NLMSG_ERROR || msg.payload.size() < sizeof(int)) {
    return std::nullopt;
  }
  return readStruct<int>(msg.payload);
}

std::string parseErrorText(const MessageView& msg) {
  if (msg.type != NLMSG_ERROR || (msg.flags & NLM_F_ACK_TLVS) == 0) {
    return {};
  }
  // With NLM_F_CAPPED the request is echoed as its header only; otherwise in full.
  std::size_t skip = sizeof(nlmsgerr);
  if ((msg.flags & NLM_F_CAPPED) == 0) {
    if (msg.payload.size() < sizeof(nlmsgerr)) {
      return {};
    }
    auto err = readStruct<nlmsgerr>(msg.payload);
    if (err.msg.nlmsg_len < sizeof(nlmsghdr)) {
      return {};
    }
    skip = sizeof(int) + err.msg.nlmsg_len;
  }
  std::size_t pos = align4(skip);
  const auto attrs = msg.payload;
  while (pos < attrs.size() && sizeof(nlattr) <= attrs.size() - pos) {
    auto a = readStruct<nlattr>(attrs, pos);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > attrs.size() - pos) {
      return {};
    }
    if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      auto data = attrs.subspan(pos + sizeof(nlattr), a.nla_len - sizeof(nlattr));
      std::string text(reinterpret_cast<const char*>(data.data()), data.size());
      if (auto nul = text.find('\0'); nul != std::string::npos) {
        text.resize(nul);
      }
      return text;
    }
    pos += align4(a.nla_len);
  }
  return {};
}

std::optional<AddressEntry> parseAddress(const MessageView& msg) {
  if (msg.type != RTM_NEWADDR || msg.payload.size() < sizeof(ifaddrmsg)) {
    return std::nullopt;
  }
  auto ifa = readStruct<ifaddrmsg>(msg.payload);
  std::size_t addr_len = 0;
  if (ifa.ifa_family == AF_INET) {
    addr_len = 4;
  } else if (ifa.ifa_family == AF_INET6) {
    addr_len = 16;
  } else {
    return std::nullopt;
  }
  if (ifa.ifa_prefixlen > addr_len * 8) {
    return std::nullopt;
  }
  std::optional<protocol::IpAddress> local;
  std::optional<protocol::IpAddress> address;
  std::size_t pos = align4(sizeof(ifaddrmsg));
  const auto attrs = msg.payload;
  while (pos + sizeof(rtattr) <= attrs.size()) {
    auto a = readStruct<rtattr>(attrs, pos);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > attrs.size() - pos) {
      return std::nullopt;
    }
    auto data = attrs.subspan(pos + sizeof(rtattr), a.rta_len - sizeof(rtattr));
    if ((a.rta_type == IFA_LOCAL || a.rta_type == IFA_ADDRESS) && data.size() == addr_len) {
      auto ip = addr_len == 4 ? protocol::IpAddress::v4(data.data())
                              : protocol::IpAddress::v6(data.data());
      (a.rta_type == IFA_LOCAL ? local : address) = ip;
    }
    pos += align4(a.rta_len);
  }
  if (!local && !address) {
    return std::nullopt;
  }
  AddressEntry e;
  e.ifindex = static_cast<int>(ifa.ifa_index);
  e.prefix = protocol::IpPrefix(local ? *local : *address, ifa.ifa_prefixlen);
  return e;
}

std::optional<AddressEntry> parseAddress(std::span<const std::uint8_t> message) {
  auto msgs = splitMessages(message);
  if (!msgs || msgs->size() != 1) {
    return std::nullopt;
  }
  return parseAddress(msgs->front());
}

std::optional<RouteEntry> parseRoute(const MessageView& msg) {
  if (msg.type != RTM_NEWROUTE || msg.payload.size() < sizeof(rtmsg)) {
    return std::nullopt;
  }
  auto rt = readStruct<rtmsg>(msg.payload);
  std::size_t addr_len = rt.rtm_family == AF_INET ? 4 : rt.rtm_family == AF_INET6 ? 16 : 0;
  if (addr_len == 0 || rt.rtm_dst_len > addr_len * 8) {
    return std::nullopt;
  }
  RouteEntry e;
  e.family = rt.rtm_family;
  e.dst_len = rt.rtm_dst_len;
  e.type = rt.rtm_type;
  e.table = rt.rtm_table;
  auto attrs = detail::attributesAfter(msg.payload, sizeof(rtmsg));
  bool ok = detail::forEachAttribute(attrs, [&](std::uint16_t type,
                                                std::span<const std::uint8_t> data) {
    auto ip = [&]() -> std::optional<protocol::IpAddress> {
      if (data.size() != addr_len) {
        return std::nullopt;
      }
      return addr_len == 4 ? protocol::IpAddress::v4(data.data())
                           : protocol::IpAddress::v6(data.data());
    };
    std::uint32_t v = detail::readU32(data).value_or(0);
    switch (type) {
      case RTA_GATEWAY:
        e.gateway = ip();
        break;
      case RTA_PREFSRC:
        e.prefsrc = ip();
        break;
      case RTA_OIF:
        e.ifindex = static_cast<int>(v);
        break;
      case RTA_TABLE:
        e.table = v;
        break;
      case RTA_PRIORITY:
        e.priority = v;
        break;
      default:
        break;
    }
    return true;
  });
  if (!ok) {
    return std::nullopt;
  }
  return e;
}

std::optional<RouteEntry> parseRoute(std::span<const std::uint8_t> message) {
  auto msgs = splitMessages(message);
  if (!msgs || msgs->size() != 1) {
    return std::nullopt;
  }
  return parseRoute(msgs->front());
}

}  // namespace vpn::tun::netlink
