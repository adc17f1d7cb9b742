#pragma once
// LifetimeProbe: the daemon's measurement of how long our NAT keeps an idle UDP mapping
// (client/netcheck/MappingLifetime, RFC 5780 section 4.6), so keepalives can be sent just inside
// it ([nat] learn_keepalive). The I/O-free measurement asks for a few extra UDP sockets (one per
// idle time tried, bound to the tunnel's address with a free port): this class opens and watches
// them, and closes them when the measurement ends. The sender's requests go out on the tunnel's
// own socket through `send_main`, whose STUN answers the daemon hands to onMainDatagram.
//
// With a network key the rendezvous only takes sealed STUN: `seal` and `open` wrap and unwrap the
// test sockets' datagrams (identity without one).
//
// Ownership: owned by the daemon; borrows the loop, which must outlive it. Single-threaded (the
// loop's thread). Errors: a socket that cannot be opened fails the measurement with a sentence
// (in the result), nothing throws except std::bad_alloc.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/time.hpp"
#include "client/netcheck/mapping_lifetime.hpp"
#include "net/fd_watcher.hpp"
#include "net/timer.hpp"

struct uv_loop_s;

namespace vpn::client {

class LifetimeProbe {
 public:
  using Send = std::function<void(const protocol::Endpoint&, std::span<const std::uint8_t>)>;
  // Returns the bytes to put on the wire (or to read), or an empty span to drop them.
  using Wrap = std::function<std::span<const std::uint8_t>(std::span<const std::uint8_t>)>;
  using Done = std::function<void(const netcheck::MappingLifetimeResult&)>;

  LifetimeProbe(uv_loop_s& loop, Send send_main, Wrap seal, Wrap open, Done done);
  ~LifetimeProbe();
  LifetimeProbe(const LifetimeProbe&) = delete;
  LifetimeProbe& operator=(const LifetimeProbe&) = delete;

  // Starts (or restarts) a measurement; `bind_to` is the tunnel socket's address (unspecified:
  // any). The old one, if running, is dropped without a result.
  void run(netcheck::MappingLifetimeConfig config, const protocol::IpAddress& bind_to);
  void cancel();
  // A STUN datagram (already unsealed) that arrived on the tunnel's socket.
  void onMainDatagram(Instant now, const protocol::Endpoint& from,
                      std::span<const std::uint8_t> bytes);
  bool running() const { return measurement_ != nullptr; }
  // When the running measurement started (kNever when none).
  Instant startedAt() const { return started_; }

 private:
  struct TestSocket;
  void pump(Instant now);
  void readSocket(std::size_t index);
  void closeSockets();

  uv_loop_s& loop_;
  Send send_main_;
  Wrap seal_, open_;
  Done done_;
  std::unique_ptr<netcheck::MappingLifetime> measurement_;
  std::vector<std::unique_ptr<TestSocket>> sockets_;
  // Sockets of an ended run, no longer watched: freed from the reaper timer, never from inside
  // their own watcher's callback (where a run may end).
  std::vector<std::unique_ptr<TestSocket>> retired_;
  net::Timer timer_;
  net::Timer reaper_;
  Instant started_ = kNever;
};

}  // namespace vpn::client
