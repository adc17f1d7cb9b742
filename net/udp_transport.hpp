#pragma once
// UdpTransport: batched UDP datagram I/O for the engines' edges.
//
// UdpTransport is the interface the daemon codes against; UvUdpTransport is the real one, a
// non-blocking UDP socket watched by a uv_poll_t, reading with recvmmsg and writing with sendmmsg.
// Ownership: UvUdpTransport owns its socket; close() (or the destructor) stops polling, and the fd
// is closed only after the poll handle is closed (during the next loop iteration).
// Lifetime: the uv_loop_t must outlive the transport and be run (or drained) after it is closed.
// Do not destroy the transport from inside its own receive handler (close() there is fine).
// Threading: loop thread only. send()/flush() may be called from inside the receive handler.
// Memory: all receive and send buffers are allocated once at open(); nothing allocates per packet.
// Errors: open() throws NetError with one clear sentence. After open, nothing throws: failures
// are counted in TransportStats (tx_dropped when the send queue is full or the transport is
// closed, tx_errors/rx_errors for socket errors).
#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "net/net_error.hpp"
#include "net/uv_handle.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::net {

struct ReceivedDatagram {
  protocol::Endpoint from;
  std::span<std::uint8_t> data;  // mutable (decrypt in place); valid only during the callback
};

struct TransportStats {
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_batches = 0;  // handler invocations
  std::uint64_t tx_batches = 0;  // successful sendmmsg calls
  std::uint64_t tx_dropped = 0;
  std::uint64_t rx_errors = 0;   // socket errors and truncated (oversize) datagrams
  std::uint64_t tx_errors = 0;   // datagrams the kernel refused (unreachable, bad family, ...)
};

using ReceiveHandler = std::function<void(std::span<ReceivedDatagram> batch)>;

class UdpTransport {
 public:
  virtual ~UdpTransport() = default;
  // Queues one datagram (copied into a preallocated batch slot). Sent at flush() or when the batch
  // is full. Never blocks, never allocates. Datagrams longer than max_datagram are dropped.
  virtual void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) = 0;
  virtual void flush() = 0;  // sendmmsg of everything queued
  virtual protocol::Endpoint localEndpoint() const = 0;
  virtual TransportStats stats() const = 0;
};

class UvUdpTransport final : public UdpTransport {
 public:
  static constexpr std::size_t kBatch = 64;          // datagrams per recvmmsg/sendmmsg
  static constexpr std::size_t kRecvBudget = 8;      // recvmmsg calls per wake-up, then yield
  static constexpr std::size_t kSendQueue = 4 * kBatch;
  static constexpr int kSocketBuffer = 4 * 1024 * 1024;

  // Opens and binds a UDP socket and starts receiving. "[::]" listens dual stack: IPv4 peers are
  // reported as IPv4 Endpoints, and IPv4 destinations are sent as IPv4-mapped addresses. Port 0
  // picks a free port (see localEndpoint()). Throws NetError, e.g. "UDP port 51820 on 0.0.0.0 is
  // already in use; stop the other program or change [peer] listen".
  static std::unique_ptr<UvUdpTransport> open(uv_loop_t& loop, const protocol::Endpoint& listen,
                                              std::size_t max_datagram,
                                              ReceiveHandler on_batch);
  ~UvUdpTransport() override;
  UvUdpTransport(const UvUdpTransport&) = delete;
  UvUdpTransport& operator=(const UvUdpTransport&) = delete;

  void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  void flush() override;
  protocol::Endpoint localEndpoint() const override { return local_; }
  TransportStats stats() const override { return stats_; }

  // Stops polling; the fd is closed only after the poll handle is closed. Idempotent. Queued
  // datagrams that were not yet sent are counted as tx_dropped.
  void close();
  std::size_t queued() const { return tx_count_; }

 private:
  UvUdpTransport(int fd, bool v6, std::size_t max_datagram, ReceiveHandler on_batch);
  static void onPoll(uv_poll_t* handle, int status, int events);
  void onReadable();
  void setWantWritable(bool want);

  int fd_;
  bool v6_;
  std::size_t max_datagram_;
  ReceiveHandler on_batch_;
  protocol::Endpoint local_;
  UvHandle<uv_poll_t> poll_;
  TransportStats stats_;
  bool want_writable_ = false;
  bool* alive_ = nullptr;  // set while the handler runs; cleared by the destructor

  // Receive side: kBatch slots of max_datagram bytes each.
  std::vector<std::uint8_t> rx_buf_;
  std::vector<sockaddr_storage> rx_addr_;
  std::vector<iovec> rx_iov_;
  std::vector<mmsghdr> rx_msgs_;
  std::vector<ReceivedDatagram> rx_batch_;

  // Send side: a ring of kSendQueue slots; tx_head_ is the oldest unsent.
  std::vector<std::uint8_t> tx_buf_;
  std::vector<sockaddr_storage> tx_addr_;
  std::vector<socklen_t> tx_addr_len_;
  std::vector<iovec> tx_iov_;
  std::vector<mmsghdr> tx_msgs_;
  std::size_t tx_head_ = 0;
  std::size_t tx_count_ = 0;
};

}  // namespace vpn::net
