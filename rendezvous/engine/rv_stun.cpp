// The STUN reflector (RFC 8489 Binding, RFC 5780 CHANGE-REQUEST / RESPONSE-ORIGIN /
// OTHER-ADDRESS / RESPONSE-PORT, and classic RFC 3489 Binding requests answered with
// MAPPED-ADDRESS / SOURCE-ADDRESS / CHANGED-ADDRESS, their CHANGE-REQUEST honoured alike). The four sockets of the RFC 5780 grid are (primary address A1 | alternate A2) x
// (primary port P1 | alternate P2); a change request flips the address and/or port bit of the
// socket the request arrived on. Over TCP a Binding request is answered on its connection with
// the mapped address only: no alternates, no RESPONSE-ORIGIN, and RESPONSE-PORT is refused (420) as
// RFC 5780 makes it UDP-only.
// Amplification: every answer passes a per-address rate; one larger than its request (a request
// without PADDING) also needs the per-address and global excess allowances.
#include <array>

#include "protocol/stun.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {
namespace {

constexpr std::string_view kSoftware = "vpnpeer-rendezvous";

bool ipBit(SocketRole r) {
  return r == SocketRole::kAltAddress || r == SocketRole::kAltBoth;
}
bool portBit(SocketRole r) {
  return r == SocketRole::kAltPort || r == SocketRole::kAltBoth;
}
SocketRole roleOf(bool ip, bool port) {
  if (ip) {
    return port ? SocketRole::kAltBoth : SocketRole::kAltAddress;
  }
  return port ? SocketRole::kAltPort : SocketRole::kPrimary;
}

struct Grid {
  bool in_grid = false;  // the socket is the stun primary or one of its alternates
  bool can_ip = false;
  bool can_port = false;
  std::optional<protocol::Endpoint> primary;
};

Grid gridFor(const RendezvousOptions& o, SocketId on) {
  Grid g;
  if (o.stun_listen >= o.listen.size()) {
    return g;
  }
  g.primary = o.listen[o.stun_listen];
  if (on.role == SocketRole::kTcp) {
    return g;
  }
  g.in_grid = on.role != SocketRole::kPrimary || on.listen == o.stun_listen;
  g.can_port = g.in_grid && o.alt_port.has_value();
  g.can_ip = g.in_grid && o.alt_address.has_value() && !g.primary->address().isUnspecified();
  return g;
}

// The local endpoint of a socket, if it is specific enough to name in RESPONSE-ORIGIN.
std::optional<protocol::Endpoint> localOf(const RendezvousOptions& o, const Grid& g, SocketId s) {
  if (s.role == SocketRole::kTcp) {
    return std::nullopt;
  }
  if (s.role == SocketRole::kPrimary && !(g.in_grid && s.listen == o.stun_listen)) {
    if (s.listen >= o.listen.size() || o.listen[s.listen].address().isUnspecified()) {
      return std::nullopt;
    }
    return o.listen[s.listen];
  }
  if (!g.primary) {
    return std::nullopt;
  }
  protocol::IpAddress addr = ipBit(s.role) && o.alt_address ? *o.alt_address
                                                             : g.primary->address();
  std::uint16_t port = portBit(s.role) && o.alt_port ? *o.alt_port : g.primary->port();
  if (addr.isUnspecified()) {
    return std::nullopt;
  }
  return protocol::Endpoint(addr, port);
}

}  // namespace

bool RendezvousEngine::Impl::allowStunReply(Instant now, const protocol::Endpoint& from,
                                            std::size_t request, std::size_t reply) {
  if (!stun_by_address.allow(now, from.address())) {
    drop(Drop::kStunRateLimited);
    return false;
  }
  if (reply <= request) {
    return true;
  }
  // Larger than the request (a classic 20-byte Binding request): only within a small allowance
  // per address and for everyone, so a spoofed flood is reflected at less than its own size.
  auto excess = static_cast<double>(reply - request);
  if (!stun_excess_by_address.allow(now, from.address()) ||
      !stun_excess_bytes.take(now, options.stun_excess_rate, options.stun_excess_burst, excess)) {
    drop(Drop::kStunAmplification);
    return false;
  }
  return true;
}

void RendezvousEngine::Impl::onStun(Instant now, SocketId on, const protocol::Endpoint& from,
                                    std::span<const std::uint8_t> bytes) {
  std::array<std::uint8_t, protocol::kStunMaxBuiltSize> out{};
  protocol::StunBuildOptions build;
  build.software = kSoftware;
  // Classic (RFC 3489) clients too, as RFC 5389 section 12 asks of servers.
  auto parsed = protocol::parseStun(bytes, true);
  if (!parsed) {
    auto header = protocol::parseStunHeader(bytes, true);
    if (header && protocol::stunClass(header->type) == protocol::StunClass::kRequest) {
      std::size_t n = protocol::buildBindingErrorFor(*header, protocol::kStunErrorBadRequest, {},
                                                     out, build);
      if (n != 0 && allowStunReply(now, from, bytes.size(), n)) {
        sink.sendFrom(on, from, std::span<const std::uint8_t>(out.data(), n));
      }
    }
    drop(Drop::kStun);
    return;
  }
  const protocol::StunMessage& m = *parsed;
  Grid g = gridFor(options, on);
  std::size_t n = 0;
  SocketId reply_from = on;
  // RESPONSE-PORT (RFC 5780 section 7.5) only redirects to another port of the same source
  // address, so it cannot aim our answers at a third party.
  protocol::Endpoint reply_to = from;
  switch (protocol::classifyStunRequest(m, g.can_ip, g.can_port, on.role != SocketRole::kTcp)) {
    case protocol::StunServerAction::kAnswer: {
      counters.stun_requests++;
      if (g.in_grid && (m.change_ip || m.change_port)) {
        reply_from.role = roleOf(ipBit(on.role) != m.change_ip, portBit(on.role) != m.change_port);
        reply_from.listen = options.stun_listen;
      }
      std::optional<protocol::Endpoint> other;
      if (g.in_grid && g.can_ip && g.can_port) {
        SocketId opposite{roleOf(!ipBit(on.role), !portBit(on.role)), options.stun_listen};
        other = localOf(options, g, opposite);
      }
      n = protocol::buildBindingResponse(m, from, localOf(options, g, reply_from), other, out,
                                         build);
      if (m.response_port) {
        reply_to = protocol::Endpoint(from.address(), *m.response_port);
      }
      break;
    }
    case protocol::StunServerAction::kUnknownAttribute:
      n = protocol::buildBindingError(m, protocol::kStunErrorUnknownAttribute, {},
                                      m.unknownRequired(), out, build);
      drop(Drop::kStun);
      break;
    case protocol::StunServerAction::kCannotChange: {
      const std::uint16_t attr[] = {protocol::kStunAttrChangeRequest};
      n = protocol::buildBindingError(m, protocol::kStunErrorUnknownAttribute, {}, attr, out,
                                      build);
      drop(Drop::kStun);
      break;
    }
    case protocol::StunServerAction::kBadRequest:
      n = protocol::buildBindingError(m, protocol::kStunErrorBadRequest, {}, {}, out, build);
      drop(Drop::kStun);
      break;
    case protocol::StunServerAction::kIgnore:
      drop(Drop::kStun);
      return;
  }
  if (n != 0 && allowStunReply(now, from, bytes.size(), n)) {
    sink.sendFrom(reply_from, reply_to, std::span<const std::uint8_t>(out.data(), n));
  }
}

}  // namespace vpn::rendezvous
