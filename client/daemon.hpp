#pragma once
// Daemon: `vpnpeer up`, the composition root. It owns the event loop and wires the I/O-free Engine
// to its edges: the UDP transport (one port for everything), the TUN device, a timer armed at the
// engine's next deadline, signal handling and the control socket.
//
// Start-up problems (bad certificate, port in use, no permission for /dev/net/tun) throw
// StartupError with one sentence for the user; nothing is left behind. run() blocks until SIGINT,
// SIGTERM or `vpnpeer down`, then closes every handle and removes the TUN device (closing its fd
// removes the device with its addresses and routes). Single-threaded.
#include <memory>
#include <stdexcept>

#include "config/peer_config.hpp"

namespace vpn::client {

class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Daemon {
 public:
  explicit Daemon(config::PeerConfig cfg);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::client
