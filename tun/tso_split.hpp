#pragma once
// splitTunRead: one read from a TUN device with IFF_VNET_HDR and TSO on (a virtio_net_hdr, then
// a packet of up to 64 KiB) into the MTU-sized packets the tunnel carries, each with a complete
// checksum. A TCP super-packet (GSO TCPv4/TCPv6) is cut at gso_size: every segment gets the
// headers with its own IPv4 id and lengths, sequence number and checksums; FIN and PSH stay on
// the last segment, CWR on the first (what the kernel's own segmentation does). A UDP
// super-packet (GSO UDP_L4, from TUN_F_USO4/6) is cut the same way into datagrams of gso_size
// payload bytes, each with its own lengths, IPv4 id and UDP checksum. A packet with a partial
// checksum (NEEDS_CSUM) has it completed.
//
// Each segment is written to `out` and handed to `emit(length)` before the next overwrites it,
// so the caller can seal it in place. Pure; no allocation. Returns the number of packets
// emitted, or -1 (nothing emitted) for a read it cannot split: a header or packet that is
// malformed or too large for `out`, or a GSO type other than TCP and UDP_L4.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace vpn::tun {

struct VnetHeader;
using EmitSegment = std::function<void(std::size_t length)>;

// Completes a partial checksum in place when `h` says NEEDS_CSUM (the field holds the
// pseudo-header sum; the rest is summed here). True if done or not needed; false if the
// header's offsets do not fit the packet.
bool completeChecksum(std::span<std::uint8_t> packet, const VnetHeader& h);

int splitTunRead(std::span<const std::uint8_t> read, std::span<std::uint8_t> out,
                 const EmitSegment& emit);

}  // namespace vpn::tun
