// The peer daemon's TUN edge: opening the device with its offloads, reading packets (and, with
// TSO or USO, 64 KiB super-packets cut into tunnel packets) into the engine, and writing what
// the engine opens (coalesced with tun-gro).
#include <linux/if_tun.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.hpp"
#include "client/daemon_impl.hpp"
#include "protocol/data_packet.hpp"
#include "tun/tso_split.hpp"
#include "tun/vnet_header.hpp"

namespace vpn::client {
namespace {

// TUN reads per wake-up before we yield to the loop, so UDP input is not starved.
constexpr int kTunReadBudget = 64;
// With TSO a read holds up to 64 KiB (about 45 tunnel packets): fewer reads per wake-up.
constexpr int kTunSuperReadBudget = 16;
constexpr std::size_t kTunReadSize = kTunReadBufferSize;

}  // namespace

void Daemon::Impl::onTunReadable() {
  if (stopping) {
    return;
  }
  Instant now = Clock::now();
  in_tun_read = true;  // the engine may leave sealing to aead_batch (run at every UDP flush)
  std::span<std::uint8_t> payload(frame.data() + protocol::kDataHeaderSize,
                                  frame.size() - protocol::kDataHeaderSize - protocol::kAeadTagSize);
  if (tun_dev->vnetHeader()) {
    // Each read may be a TCP super-packet: cut into tunnel packets, sealed one by one into the
    // UDP queue, which then leaves as one GSO run.
    // A packet that fits the frame is read straight into it (most are); a super-packet spills
    // into the big buffer and is put together there before it is cut.
    std::uint8_t* big = tun_read_buf.get();
    for (int i = 0; i < kTunSuperReadBudget; ++i) {
      long n = tun_dev->readScattered(
          std::span<std::uint8_t>(big, tun::kVnetHeaderSize), payload,
          std::span<std::uint8_t>(big + tun::kVnetHeaderSize + payload.size(),
                                  kTunReadSize - tun::kVnetHeaderSize - payload.size()));
      if (n <= 0) {
        break;
      }
      const auto len = static_cast<std::size_t>(n) - std::min<std::size_t>(
                                                         static_cast<std::size_t>(n),
                                                         tun::kVnetHeaderSize);
      const auto hdr = tun::VnetHeader::read(big);
      if (n >= static_cast<long>(tun::kVnetHeaderSize) && len <= payload.size() &&
          hdr.gso_type == tun::kGsoNone) {
        if (tun::completeChecksum(payload.first(len), hdr)) {
          engine->onTunPacket(now, frame, len);
        } else {
          ++tun_read_errors;
        }
        continue;
      }
      // Contiguous again: the part that landed in the frame goes in front of the rest.
      std::memcpy(big + tun::kVnetHeaderSize, payload.data(), std::min(len, payload.size()));
      int segments = tun::splitTunRead(
          std::span<const std::uint8_t>(big, static_cast<std::size_t>(n)), payload,
          [&](std::size_t seg) { engine->onTunPacket(now, frame, seg); });
      if (segments < 0) {
        ++tun_read_errors;
      } else if (segments > 1 && hdr.gso_type == tun::kGsoUdpL4) {
        ++uso_reads;
        uso_segments += static_cast<std::uint64_t>(segments);
      } else if (segments > 1) {
        ++tso_reads;
        tso_segments += static_cast<std::uint64_t>(segments);
      }
      udp->flush();
    }
  } else {
    for (int i = 0; i < kTunReadBudget; ++i) {
      long n = tun_dev->read(payload);
      if (n <= 0) {
        break;
      }
      engine->onTunPacket(now, frame, static_cast<std::size_t>(n));
    }
  }
  in_tun_read = false;
  completeSeals();  // nothing handed over outlives this handler (EngineSink::sealsLater)
  afterEvent();
}

// The TUN device and its offloads ([tunnel] offloads: tun-tso, tun-uso, tun-gro), each falling
// back on its own. Throws tun::TunError.
void Daemon::Impl::openTun() {
  // With either TUN offload the device carries a virtio header on every packet.
  const bool vnet = cfg.tunnel.tun_tso || cfg.tunnel.tun_uso || cfg.tunnel.tun_gro;
  tun_dev = tun::LinuxTunDevice::open(cfg.tun_name, tun::LinuxTunDevice::Options{vnet, false});
  if (vnet) {
    tun_read_buf.reset(new std::uint8_t[kTunReadBufferSize]);
  }
  if (cfg.tunnel.tun_uso) {
    // Kernels before 6.2 refuse the USO bits with EINVAL: then without them.
    const unsigned tso = cfg.tunnel.tun_tso ? TUN_F_TSO4 | TUN_F_TSO6 : 0;
    tun_uso = tun_dev->setOffload(TUN_F_CSUM | tso | tun::kTunFUso4 | tun::kTunFUso6);
    tun_tso = tun_uso && cfg.tunnel.tun_tso;
  }
  if (cfg.tunnel.tun_tso && !tun_uso) {
    tun_tso = tun_dev->setOffload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
    if (!tun_tso) {
      LOG_WARN("the TUN device refused TSO (%s); reading packet by packet", std::strerror(errno));
    }
  }
  if (cfg.tunnel.tun_gro) {
    coalescer = std::make_unique<tun::TcpCoalescer>(
        [this](std::span<const std::uint8_t> hdr, std::span<const std::uint8_t> pkt) {
          if (!tun_dev->writeWithHeader(hdr, pkt)) {
            ++tun_write_errors;
          }
        });
  }
}

void Daemon::Impl::writeTun(std::span<const std::uint8_t> packet) {
  if (coalescer) {
    coalescer->add(packet);  // written at the end of the batch (afterEvent)
    return;
  }
  if (!tun_dev->write(packet)) {
    ++tun_write_errors;
  }
}

}  // namespace vpn::client
