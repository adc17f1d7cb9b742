#pragma once
// LinuxTunDevice: a TUN interface opened through /dev/net/tun (IFF_TUN | IFF_NO_PI).
//
// Ownership: owns the fd (O_NONBLOCK | O_CLOEXEC); the destructor closes it, which removes the
// non-persistent interface, its addresses and its routes.
// Threading: not thread-safe; event-loop thread only.
// Errors: open() throws TunError with one clear sentence (permission, missing tun module, name in
// use, bad name). read()/write() never throw.
// Addresses, MTU and link state are configured separately (see interface_config.hpp).
#include <memory>
#include <string>

#include "tun/tun_device.hpp"

namespace vpn::tun {

class LinuxTunDevice final : public TunDevice {
 public:
  struct Options {
    // Reserved for later: IFF_VNET_HDR (GSO offload) and IFF_MULTI_QUEUE (one fd per thread).
    // vnet_hdr changes the packet format (a virtio_net_hdr precedes every packet); read() and
    // write() pass bytes through unchanged, so callers must handle that header themselves.
    bool vnet_hdr = false;
    bool multi_queue = false;
  };

  // name may be a template such as "vpn%d"; name() then reports the name the kernel chose.
  static std::unique_ptr<LinuxTunDevice> open(const std::string& name);
  static std::unique_ptr<LinuxTunDevice> open(const std::string& name, const Options& options);

  ~LinuxTunDevice() override;
  LinuxTunDevice(const LinuxTunDevice&) = delete;
  LinuxTunDevice& operator=(const LinuxTunDevice&) = delete;

  int fd() const override { return fd_; }
  const std::string& name() const override { return name_; }
  long read(std::span<std::uint8_t> buf) override;
  bool write(std::span<const std::uint8_t> packet) override;

 private:
  LinuxTunDevice(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  int fd_ = -1;
  std::string name_;
};

}  // namespace vpn::tun
