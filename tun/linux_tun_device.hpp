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
    // IFF_VNET_HDR: a virtio_net_hdr (tun/vnet_header.hpp) precedes every packet. read() returns
    // it with the packet; write() puts an empty one in front; writeWithHeader() takes one.
    bool vnet_hdr = false;
    bool multi_queue = false;  // reserved: IFF_MULTI_QUEUE (one fd per thread)
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

  bool vnetHeader() const { return vnet_hdr_; }
  // With vnet_hdr: one read scattered over the header, `first` and then `rest` (readv), so that
  // a packet that fits `first` lands there without a copy. Returns bytes read in all (header
  // included), 0 if nothing is ready, -1 on error.
  long readScattered(std::span<std::uint8_t> header, std::span<std::uint8_t> first,
                     std::span<std::uint8_t> rest);
  // With vnet_hdr: one packet behind its virtio header, in one writev.
  bool writeWithHeader(std::span<const std::uint8_t> header, std::span<const std::uint8_t> packet);
  // With vnet_hdr: TUNSETOFFLOAD, e.g. TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 (what our reads can
  // take). False (errno set) if the kernel refuses.
  bool setOffload(unsigned flags);

 private:
  LinuxTunDevice(int fd, std::string name, bool vnet_hdr)
      : fd_(fd), name_(std::move(name)), vnet_hdr_(vnet_hdr) {}

  int fd_ = -1;
  std::string name_;
  bool vnet_hdr_ = false;
};

}  // namespace vpn::tun
