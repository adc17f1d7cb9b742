#pragma once
// TcpCoalescer: the decrypted inner packets of one receive batch, merged per TCP flow into
// super-packets that a TUN device with IFF_VNET_HDR takes in one write (GSO TCPv4/TCPv6), so the
// kernel's stack runs once per flow and batch instead of once per packet.
//
// add() keeps TCP data segments and merges a segment into the flow's pending super-packet under
// the rules the kernel's GRO uses: same addresses, ports, IP fields (TOS or traffic class, TTL or
// hop limit, DF; no IPv4 options or fragments), the same TCP header but for the sequence number
// and PSH (options byte for byte), the next sequence number, a payload the size of the first
// segment's (a shorter one, or PSH, ends the super-packet), at most 64 segments and 64 KiB.
// Anything else is written at once, after the flow's pending packet so that a flow keeps its
// order. flush() writes what is pending, in the order the flows started; call it at the end of
// every batch. A merged super-packet goes out with NEEDS_CSUM and its pseudo-header sum in the
// TCP checksum field (the kernel completes each segment's checksum); a lone packet goes out as
// it came, with an empty virtio header.
//
// Ownership: plain object; buffers (kSlots x 64 KiB, uninitialised) are allocated once.
// Threading: one thread. Errors: none thrown; the writer's failures are counted by the caller.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "tun/vnet_header.hpp"

namespace vpn::tun {

struct CoalescerStats {
  std::uint64_t writes = 0;      // writes of super-packets (two or more segments)
  std::uint64_t segments = 0;    // segments in them
};

class TcpCoalescer {
 public:
  static constexpr std::size_t kSlots = 16;       // flows pending at once
  static constexpr std::size_t kMaxSegments = 64;
  static constexpr std::size_t kMaxPacket = 65535;
  // Writes one packet with its virtio header (kVnetHeaderSize bytes) in front.
  using Write = std::function<void(std::span<const std::uint8_t> vnet_header,
                                   std::span<const std::uint8_t> packet)>;

  explicit TcpCoalescer(Write write);

  void add(std::span<const std::uint8_t> packet);
  void flush();
  const CoalescerStats& stats() const { return stats_; }

 private:
  struct Slot {
    bool used = false;
    bool closed = false;     // nothing more merges into it
    TcpPacketView view;
    std::size_t length = 0;  // bytes of the packet so far
    std::size_t gso_size = 0;
    std::size_t segments = 0;
    std::uint32_t next_seq = 0;
    std::uint8_t* data = nullptr;  // kMaxPacket bytes
  };

  bool sameFlow(const Slot& s, std::span<const std::uint8_t> p, const TcpPacketView& v) const;
  bool mergeable(const Slot& s, std::span<const std::uint8_t> p, const TcpPacketView& v) const;
  void writeSlot(Slot& s);
  void writeAlone(std::span<const std::uint8_t> packet);

  Write write_;
  std::unique_ptr<std::uint8_t[]> buffers_;
  std::array<Slot, kSlots> slots_{};
  std::array<std::size_t, kSlots> order_{};  // slot indices in the order their flows started
  std::size_t pending_ = 0;
  CoalescerStats stats_;
};

}  // namespace vpn::tun
