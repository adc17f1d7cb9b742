#pragma once
// Resolver: asynchronous host name resolution on the loop's thread pool (uv_getaddrinfo), so a
// slow DNS server never blocks the data path. Used to resolve rendezvous servers at start and
// again when they stop answering.
//
// The callback runs on the loop thread with every UDP endpoint found (IPv4 first), or with an
// empty list and one sentence saying why, never inside resolve(). An address literal is answered
// on the next loop iteration without the thread pool (starting its threads and the hop through
// them delay a daemon's first packet by milliseconds). Destroying the Resolver cancels what is
// outstanding: callbacks of cancelled lookups never run. Threading: loop thread only. Never
// throws except std::bad_alloc.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/timer.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::net {

class Resolver {
 public:
  using Callback =
      std::function<void(std::vector<protocol::Endpoint> endpoints, const std::string& error)>;

  explicit Resolver(uv_loop_t& loop);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void resolve(const std::string& host, std::uint16_t port, Callback cb);
  std::size_t outstanding() const;

 private:
  struct Request;
  static void onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);

  uv_loop_t& loop_;
  // Requests still owned by libuv; each points back here until we detach it.
  std::vector<Request*> pending_;
  // Address literals, answered by post_ on the next loop iteration.
  std::vector<std::pair<std::vector<protocol::Endpoint>, Callback>> literals_;
  std::unique_ptr<Timer> post_;
};

}  // namespace vpn::net
