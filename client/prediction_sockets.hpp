#pragma once
// PredictionSockets: the extra UDP sockets port prediction asks for (EngineSink::
// openPredictionSockets, docs/paths.md rule 14). Each is bound to an ephemeral port and has a
// nonzero id, never reused while the daemon runs; datagrams arriving on one are handed to
// on_datagram with its id. Plain non-blocking sockets polled by libuv: a path on one carries a
// symmetric-NAT pair's tunnel, so it is read until EAGAIN, but without the batching and
// offloads of the tunnel's own socket.
//
// Ownership: owned by the daemon. A closed socket stops being polled at once and its fd is closed
// on a later loop turn (the callback that closes it may be running on it). Threading: the loop's
// thread only. Errors: open() returns fewer ids (possibly none) when sockets cannot be made, and
// logs why once; send errors are ignored, as UDP losses are.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "net/fd_watcher.hpp"
#include "net/timer.hpp"
#include "protocol/ip_address.hpp"

struct uv_loop_s;

namespace vpn::client {

class PredictionSockets {
 public:
  using OnDatagram = std::function<void(std::uint16_t local, const protocol::Endpoint& from,
                                        std::span<std::uint8_t> bytes)>;
  // At most this many open at once, whatever is asked (file descriptors are limited).
  static constexpr std::size_t kMaxOpen = 1024;

  PredictionSockets(uv_loop_s& loop, OnDatagram on_datagram);
  ~PredictionSockets();
  PredictionSockets(const PredictionSockets&) = delete;
  PredictionSockets& operator=(const PredictionSockets&) = delete;

  // Up to `count` sockets of `family`, bound to `bind_to` (its port ignored; the unspecified
  // address or one of another family binds to the wildcard).
  std::vector<std::uint16_t> open(std::size_t count, protocol::IpAddress::Family family,
                                  const protocol::IpAddress& bind_to);
  void close(std::uint16_t local);
  void send(std::uint16_t local, const protocol::Endpoint& to,
            std::span<const std::uint8_t> bytes);
  std::size_t openCount() const { return open_.size(); }

 private:
  struct Socket;
  void read(std::uint16_t local);

  uv_loop_s& loop_;
  OnDatagram on_datagram_;
  std::map<std::uint16_t, std::unique_ptr<Socket>> open_;
  std::vector<std::unique_ptr<Socket>> retired_;
  net::Timer reaper_;
  std::uint16_t next_id_ = 1;
  std::vector<std::uint8_t> buf_;
  bool warned_ = false;
};

}  // namespace vpn::client
