#pragma once
// EventLoop: owns one uv_loop_t for a program's composition root (vpnpeer up, vpnpeer-rendezvous).
//
// Lifetime: construct it before any handle owner and call drain() after destroying them all; the
// drain closes anything left (a bug, logged as a warning) and frees every handle. The destructor
// drains if drain() was not called. It converts to uv_loop_t& so it can be passed wherever the
// net/ classes take a loop. Threading: one thread. Errors: the constructor throws NetError.
#include <uv.h>

namespace vpn::net {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  operator uv_loop_t&() { return loop_; }  // NOLINT: implicit by design

  // Runs until no active handle is left (every owner stopped).
  void run();
  // Idempotent; see the lifetime note above.
  void drain();

 private:
  uv_loop_t loop_{};
  bool open_ = false;
};

}  // namespace vpn::net
