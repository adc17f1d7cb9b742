#pragma once
// Server: the composition root of `vpnpeer-rendezvous`. It owns the event loop, one UDP socket per
// listen entry plus the RFC 5780 alternates the file asks for, one TCP listener per tcp_listen
// entry (TLS-wrapped with the rendezvous certificate when tcp_tls) and the connections they
// accept, the engine's timer, the signal watchers and the optional control socket, and wires them
// to the RendezvousEngine. Each accepted connection gets an id (SocketId::conn) that is not reused
// while the server runs; its length-prefixed datagrams go to the engine like UDP ones.
//
// Lifecycle: construct with a validated config; run() starts everything (throwing StartupError
// with one sentence for the user, leaving nothing behind) and blocks until SIGINT or SIGTERM,
// then closes every handle and returns 0. Threading: everything runs on the loop thread.
#include <memory>
#include <stdexcept>

#include "config/rendezvous_config.hpp"

namespace vpn::rendezvous {

class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  explicit Server(config::RendezvousConfig cfg);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::rendezvous
