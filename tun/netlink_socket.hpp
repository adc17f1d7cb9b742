#pragma once
// NetlinkSocket: sends one rtnetlink request and waits for the kernel's answer.
//
// The interface exists so interface_config can be tested against a fake; LinuxNetlinkSocket is the
// real NETLINK_ROUTE socket.
// Ownership: LinuxNetlinkSocket owns its fd and closes it in the destructor.
// Threading: not thread-safe; one request at a time. Calls block, but never longer than the
// timeout given at open() (start-up/configuration path only, never on the event loop's hot path).
// Errors: request()/dump() throw NetlinkError (a TunError) whose what() is the kernel's errno text
// (e.g. "File exists"), followed by the kernel's extended-ack reason in parentheses if it sent
// one. Timeouts and socket failures throw TunError.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tun/tun_device.hpp"

namespace vpn::tun {

class NetlinkError : public TunError {
 public:
  NetlinkError(int error, const std::string& text) : TunError(text), error_(error) {}
  // The positive errno the kernel returned (EEXIST, ENODEV, ...).
  int error() const { return error_; }

 private:
  int error_;
};

class NetlinkSocket {
 public:
  virtual ~NetlinkSocket();
  // Sends a message built with NLM_F_ACK and waits for its ack. The sequence number in msg is
  // replaced by the socket's own.
  virtual void request(std::span<const std::uint8_t> msg) = 0;
  // Sends an NLM_F_DUMP request and returns every reply message (each complete: header + payload)
  // up to NLMSG_DONE.
  virtual std::vector<std::vector<std::uint8_t>> dump(std::span<const std::uint8_t> msg) = 0;
};

class LinuxNetlinkSocket final : public NetlinkSocket {
 public:
  static std::unique_ptr<LinuxNetlinkSocket> open(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  ~LinuxNetlinkSocket() override;
  LinuxNetlinkSocket(const LinuxNetlinkSocket&) = delete;
  LinuxNetlinkSocket& operator=(const LinuxNetlinkSocket&) = delete;

  void request(std::span<const std::uint8_t> msg) override;
  std::vector<std::vector<std::uint8_t>> dump(std::span<const std::uint8_t> msg) override;

 private:
  LinuxNetlinkSocket(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  std::uint32_t send(std::span<const std::uint8_t> msg);
  // Receives one datagram into buf_ before the deadline; returns its size.
  std::size_t receive(std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::chrono::milliseconds timeout_;
  std::uint32_t seq_ = 0;
  std::vector<std::uint8_t> buf_;
};

}  // namespace vpn::tun
