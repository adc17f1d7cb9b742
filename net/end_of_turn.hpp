#pragma once
// EndOfTurn: runs a callback once at the end of the current loop iteration, after that
// iteration's I/O callbacks (a libuv check handle), when armed. Arming again before then changes
// nothing. For work done once per batch of events rather than per event: flushing what a burst
// of datagrams queued, arming timers once.
// The callback may arm again (it then runs at the end of the next iteration) but must not destroy
// the EndOfTurn. Ownership: the uv_check_t is closed (and freed by the loop) when this is
// destroyed. Threading: loop thread only. Errors: the constructor throws NetError.
#include <uv.h>

#include <functional>

#include "net/net_error.hpp"
#include "net/uv_handle.hpp"

namespace vpn::net {

class EndOfTurn {
 public:
  EndOfTurn(uv_loop_t& loop, std::function<void()> fn);
  EndOfTurn(const EndOfTurn&) = delete;
  EndOfTurn& operator=(const EndOfTurn&) = delete;

  void arm();
  bool armed() const { return armed_; }

 private:
  static void onCheck(uv_check_t* check);

  std::function<void()> fn_;
  UvHandle<uv_check_t> check_;
  bool armed_ = false;
};

}  // namespace vpn::net
