#pragma once
// TunDevice: one layer-3 TUN interface, packets in and out as raw IP (no packet-info header).
//
// Ownership: the object owns its file descriptor and closes it in its destructor. For the Linux
// implementation the device is non-persistent, so closing the fd removes the interface together
// with its addresses and routes.
// Lifetime: callers that watch fd() with an event loop (net::FdWatcher) must stop and destroy the
// watcher before destroying the device; the device never knows about the loop.
// Threading: not thread-safe; use from the event-loop thread only. No hidden threads.
// Errors: construction/opening throws TunError (start-up path). read()/write() never throw and
// never block: the fd is O_NONBLOCK; errors are reported through return values and errno.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace vpn::tun {

class TunError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class TunDevice {
 public:
  virtual ~TunDevice() = default;

  virtual int fd() const = 0;
  virtual const std::string& name() const = 0;
  // Non-blocking read of one packet: >0 bytes, 0 if nothing is ready (EAGAIN), -1 on error (errno
  // set). A packet longer than buf is truncated by the kernel; size buf for the MTU.
  virtual long read(std::span<std::uint8_t> buf) = 0;
  // Writes one packet; false on error (errno set). Never blocks: a full queue drops (counted by
  // caller).
  virtual bool write(std::span<const std::uint8_t> packet) = 0;
};

}  // namespace vpn::tun
