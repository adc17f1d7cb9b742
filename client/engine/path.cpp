#include "client/engine/path.hpp"

namespace vpn::client {

std::string_view toString(PathKind k) {
  switch (k) {
    case PathKind::kDirectUdp: return "direct-udp";
    case PathKind::kDirectTcp: return "direct-tcp";
    case PathKind::kRelayUdp: return "relay-udp";
    case PathKind::kRelayTcp: return "relay-tcp";
  }
  return "none";
}

std::string_view toString(Transport t) { return t == Transport::kUdp ? "udp" : "tcp"; }

std::string Path::toString() const {
  std::string out(client::toString(kind()));
  out += ' ';
  out += endpoint.toString();
  if (relayed()) {
    out += " channel " + std::to_string(channel);
  }
  if (local != 0) {
    out += " from prediction socket " + std::to_string(local);
  }
  return out;
}

}  // namespace vpn::client
