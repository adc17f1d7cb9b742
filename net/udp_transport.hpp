#pragma once
// UdpTransport: batched UDP datagram I/O for the engines' edges.
//
// UdpTransport is the interface the daemon codes against; UvUdpTransport is the real one, a
// non-blocking UDP socket watched by a uv_poll_t, reading with recvmmsg and writing with sendmmsg.
//
// Offloads (Linux): with UDP GSO, flush() sends each run of queued datagrams that go to one
// destination and have one size (the last may be shorter) as one sendmmsg entry with
// UDP_SEGMENT: the kernel walks its stack once per run instead of once per datagram. With UDP
// GRO, the kernel hands over runs of datagrams from one source coalesced, and the receive side
// splits them by the gso_size control message before the handler sees them: the handler always
// gets single datagrams. Each is detected at open() and can be refused (UdpOffloads). A GSO send
// the kernel refuses (EIO when the route's device cannot checksum, EINVAL or EMSGSIZE when the
// segments exceed the path MTU) turns GSO off for that destination, logged once, and is sent
// again without it; after kMaxGsoRefusals destinations GSO is off for the socket.
// Ownership: UvUdpTransport owns its socket; close() (or the destructor) stops polling, and the fd
// is closed only after the poll handle is closed (during the next loop iteration).
// Lifetime: the uv_loop_t must outlive the transport and be run (or drained) after it is closed.
// Do not destroy the transport from inside its own receive handler (close() there is fine).
// Threading: loop thread only. send()/flush() may be called from inside the receive handler.
// Memory: all receive and send buffers are allocated once at open(); nothing allocates per packet.
// With GRO each receive slot is 64 KiB (uninitialised, so only the pages the kernel writes count
// towards resident memory).
// Errors: open() throws NetError with one clear sentence. After open, nothing throws: failures
// are counted in TransportStats (tx_dropped when the send queue is full or the transport is
// closed, tx_errors/rx_errors for socket errors).
#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
  std::uint64_t tx_gso_sends = 0;     // sendmmsg entries that carried two or more datagrams
  std::uint64_t tx_gso_datagrams = 0; // ... and the datagrams in them
  std::uint64_t rx_gro_reads = 0;     // received entries that held two or more datagrams
  std::uint64_t rx_gro_datagrams = 0; // ... and the datagrams in them
};

// Which offloads to use if the kernel has them (UvUdpTransport::open), and which are in use.
struct UdpOffloads {
  bool gso = true;
  bool gro = true;
  friend bool operator==(const UdpOffloads&, const UdpOffloads&) = default;
};

using ReceiveHandler = std::function<void(std::span<ReceivedDatagram> batch)>;

class UdpTransport {
 public:
  virtual ~UdpTransport() = default;
  // Queues one datagram (copied into a preallocated batch slot). Sent at flush() or when the batch
  // is full. Never blocks, never allocates. Datagrams longer than max_datagram are dropped.
  virtual void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) = 0;
  // Queues a datagram of `len` bytes that the caller writes into the returned span before the
  // next flush (the before-flush hook is the place to finish it). Empty if it cannot be queued
  // (counted as send() counts it). Default: not supported.
  virtual std::span<std::uint8_t> reserve(const protocol::Endpoint& to, std::size_t len) {
    (void)to;
    (void)len;
    return {};
  }
  // Called at the start of every flush (including the one a full queue forces), before anything
  // is sent; it must not send or flush. Default: not supported (never called).
  virtual void setBeforeFlush(std::function<void()> hook) { (void)hook; }
  virtual void flush() = 0;  // sendmmsg of everything queued
  virtual protocol::Endpoint localEndpoint() const = 0;
  virtual TransportStats stats() const = 0;
  // The offloads in use now (GSO goes off when the kernel refuses it everywhere).
  virtual UdpOffloads offloads() const { return {false, false}; }
};

class UvUdpTransport final : public UdpTransport {
 public:
  static constexpr std::size_t kBatch = 64;          // datagrams per recvmmsg/sendmmsg
  static constexpr std::size_t kRecvBudget = 8;      // recvmmsg calls per wake-up, then yield
  static constexpr std::size_t kSendQueue = 4 * kBatch;
  static constexpr int kSocketBuffer = 4 * 1024 * 1024;
  static constexpr std::size_t kMaxGsoSegments = 64;     // UDP_MAX_SEGMENTS on older kernels
  static constexpr std::size_t kMaxGsoBytes = 65000;     // one GSO entry, below 64 KiB with headers
  static constexpr std::size_t kGroSlot = 65536;         // one receive slot with GRO
  static constexpr std::size_t kMaxGsoRefusals = 16;     // destinations that refused GSO

  // Opens and binds a UDP socket and starts receiving. "[::]" listens dual stack: IPv4 peers are
  // reported as IPv4 Endpoints, and IPv4 destinations are sent as IPv4-mapped addresses. Port 0
  // picks a free port (see localEndpoint()). Throws NetError, e.g. "UDP port 51820 on 0.0.0.0 is
  // already in use; stop the other program or change [peer] listen".
  static std::unique_ptr<UvUdpTransport> open(uv_loop_t& loop, const protocol::Endpoint& listen,
                                              std::size_t max_datagram,
                                              ReceiveHandler on_batch, UdpOffloads want = {});
  ~UvUdpTransport() override;
  UvUdpTransport(const UvUdpTransport&) = delete;
  UvUdpTransport& operator=(const UvUdpTransport&) = delete;

  void send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  std::span<std::uint8_t> reserve(const protocol::Endpoint& to, std::size_t len) override;
  void setBeforeFlush(std::function<void()> hook) override { before_flush_ = std::move(hook); }
  void flush() override;
  protocol::Endpoint localEndpoint() const override { return local_; }
  TransportStats stats() const override { return stats_; }
  UdpOffloads offloads() const override { return {gso_, gro_}; }

  // Path MTU probing (the peer's [paths] pmtu_discovery): every datagram leaves with the
  // don't-fragment bit and the kernel's path MTU cache is ignored (IP_PMTUDISC_PROBE), so a hop
  // too small drops it instead of fragmenting and the caller's probes see the real path. False if
  // the kernel refused (nothing changes then).
  bool setPathMtuProbing(bool on);
  // Sends one datagram now, after what is queued, that the network may fragment: the exception
  // to path MTU probing (without probing, as send()). Counted like any other send.
  void sendFragmentable(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes);

  // Stops polling; the fd is closed only after the poll handle is closed. Idempotent. Queued
  // datagrams that were not yet sent are counted as tx_dropped.
  void close();
  std::size_t queued() const { return tx_count_; }

 private:
  UvUdpTransport(int fd, bool v6, std::size_t max_datagram, ReceiveHandler on_batch, bool gso,
                 bool gro);
  static void onPoll(uv_poll_t* handle, int status, int events);
  void onReadable();
  // Queues a slot of `len` bytes for `to` (flushing first if the batch or the queue is full);
  // nullopt (counted) if it cannot.
  std::optional<std::size_t> queueSlot(const protocol::Endpoint& to, std::size_t len);
  // Splits received entry i (GRO) into rx_batch_ from index `count`; returns the new count.
  std::size_t collect(std::size_t i, std::size_t count);
  void setWantWritable(bool want);
  // GSO: may slots a and b go in one entry (same destination), and may `slot` use GSO at all.
  bool sameDestination(std::size_t a, std::size_t b) const;
  bool gsoAllowed(std::size_t slot) const;
  void refuseGso(std::size_t slot, int err);

  int fd_;
  bool v6_;
  std::size_t max_datagram_;
  ReceiveHandler on_batch_;
  protocol::Endpoint local_;
  UvHandle<uv_poll_t> poll_;
  TransportStats stats_;
  bool want_writable_ = false;
  bool* alive_ = nullptr;  // set while the handler runs; cleared by the destructor
  std::function<void()> before_flush_;

  bool gso_;
  bool gro_;
  bool pmtu_probe_ = false;
  std::vector<sockaddr_storage> gso_refused_;  // destinations where the kernel refused GSO
  std::vector<socklen_t> gso_refused_len_;

  // Receive side: kBatch slots of rx_slot_ bytes each (max_datagram, or kGroSlot with GRO).
  std::size_t rx_slot_;
  std::unique_ptr<std::uint8_t[]> rx_buf_;
  std::vector<sockaddr_storage> rx_addr_;
  std::vector<iovec> rx_iov_;
  std::vector<mmsghdr> rx_msgs_;
  // Room for one control message (UDP_GRO in, UDP_SEGMENT out), aligned as cmsghdr needs.
  struct alignas(cmsghdr) CmsgSpace {
    std::array<char, 64> bytes;
  };
  std::vector<CmsgSpace> rx_cmsg_;
  std::vector<ReceivedDatagram> rx_batch_;     // the split datagrams handed to the handler

  // Send side: a ring of kSendQueue slots; tx_head_ is the oldest unsent.
  std::unique_ptr<std::uint8_t[]> tx_buf_;
  std::vector<sockaddr_storage> tx_addr_;
  std::vector<socklen_t> tx_addr_len_;
  std::vector<iovec> tx_iov_;
  // What one sendmmsg call sends: up to kBatch entries, each one slot or a GSO run of slots.
  std::vector<mmsghdr> tx_msgs_;
  std::vector<std::size_t> tx_msg_slots_;       // slots in each entry
  std::vector<CmsgSpace> tx_cmsg_;              // UDP_SEGMENT for entries of two or more
  std::size_t tx_head_ = 0;
  std::size_t tx_count_ = 0;
};

}  // namespace vpn::net
