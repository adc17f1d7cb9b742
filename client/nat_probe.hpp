#pragma once
// NatProbe: the daemon's own NAT discovery, run on the tunnel's UDP port against a rendezvous
// (RFC 5780 tests, client/netcheck/NatDiscovery), so the NAT type it finds is the one our tunnel
// packets meet. The result goes into REGISTER, and through the rendezvous to the peers we are
// introduced to, for `vpnpeer explain`.
//
// The daemon feeds it every STUN datagram that arrives on the port (the engine has no use for
// STUN) and gives it a send function over the same socket. A run takes at most ~9 s; run() while
// one is under way restarts it (a network change makes the old answers stale).
//
// Ownership: owned by the daemon; borrows the loop, which must outlive it. Single-threaded (the
// loop's thread). Errors: none surface; a run without answers concludes "udp-blocked", which is
// what the tests mean by it.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "client/netcheck/nat_discovery.hpp"
#include "net/timer.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/nat_type.hpp"

struct uv_loop_s;

namespace vpn::client {

class NatProbe {
 public:
  using Send = std::function<void(const protocol::Endpoint&, std::span<const std::uint8_t>)>;
  using Done = std::function<void(protocol::NatType, const netcheck::NetcheckReport&)>;

  NatProbe(uv_loop_s& loop, Send send, Done done);
  ~NatProbe();
  NatProbe(const NatProbe&) = delete;
  NatProbe& operator=(const NatProbe&) = delete;

  // Starts (or restarts) discovery against `server`; `local` is our socket's address when it is
  // a specific one (to tell "open" from "behind NAT").
  void run(const protocol::Endpoint& server, std::optional<protocol::Endpoint> local);
  // A STUN datagram from the socket. Ignored when no run is under way.
  void onDatagram(Instant now, const protocol::Endpoint& from, std::span<const std::uint8_t> bytes);
  bool running() const { return discovery_ != nullptr; }

 private:
  void pump(Instant now);

  Send send_;
  Done done_;
  std::unique_ptr<netcheck::NatDiscovery> discovery_;
  net::Timer timer_;
};

}  // namespace vpn::client
