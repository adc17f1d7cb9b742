// Path MTU discovery per session path (pmtu_search.hpp), and the inner packets that do not fit:
// refused with ICMP on the TUN device so the sender adapts, or sent with the outer datagram
// fragmentable where refusing is not allowed (protocol/inner_mtu.hpp). Per-packet code here
// neither allocates nor throws.
#include <cstring>

#include "base/byte_io.hpp"
#include "client/engine/engine_impl.hpp"

namespace vpn::client {

void Engine::Impl::syncPmtu(PeerSession& s, Instant now) {
  s.pmtu_path = s.path;
  bool off = !options.pmtu_discovery || s.path.transport != Transport::kUdp;
  s.pmtu.reset(now, options.tun_mtu, off);
}

void Engine::Impl::servicePmtu(PeerState& peer, Instant now) {
  PeerSession& s = *peer.session;
  pathMtu(s, now);
  auto probe = s.pmtu.poll(now, s.srtt, next_probe_token);
  if (!probe) {
    return;
  }
  ++next_probe_token;
  if (probe->size < kPmtuProbeMin || probe->size + protocol::kDataOverhead > probe_scratch.size()) {
    return;  // cannot happen with the sizes reset() allows; the search counts it as lost
  }
  auto plain = std::span<std::uint8_t>(probe_scratch).subspan(protocol::kDataHeaderSize,
                                                              probe->size);
  std::memset(plain.data(), 0, plain.size());
  ByteWriter w(plain.first(kPmtuProbeMin));
  w.u8(kPmtuProbe);
  w.u64(probe->token);
  const Path path = s.path;
  sealAndSend(peer, now, probe_scratch, probe->size, true, &path, false);
}

bool Engine::Impl::onPmtuKeepalive(PeerState& peer, Instant now,
                                   std::span<const std::uint8_t> plain) {
  if (plain.empty() || (plain[0] != kPmtuProbe && plain[0] != kPmtuAck)) {
    return false;
  }
  PeerSession& s = *peer.session;
  if (plain[0] == kPmtuProbe) {
    if (plain.size() < kPmtuProbeMin) {
      drops.add(DropReason::kMalformed);
      return true;
    }
    ByteReader r(plain.subspan(1, 8));
    std::uint64_t token = r.u64();
    std::array<std::uint8_t, protocol::kDataOverhead + kPmtuAckSize> buf{};
    ByteWriter w(std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize, kPmtuAckSize));
    w.u8(kPmtuAck);
    w.u64(token);
    w.u16(static_cast<std::uint16_t>(std::min<std::size_t>(plain.size(), 0xFFFF)));
    // On our own active path, never to an unvalidated source: the token says which probe
    // crossed, whatever way the small answer takes.
    const Path path = s.path;
    sealAndSend(peer, now, buf, kPmtuAckSize, true, &path, false);
    return true;
  }
  if (plain.size() != kPmtuAckSize) {
    drops.add(DropReason::kMalformed);
    return true;
  }
  ByteReader r(plain.subspan(1));
  std::uint64_t token = r.u64();
  std::size_t size = r.u16();
  s.pmtu.onAck(now, token, size);  // ignored unless it names the outstanding probe
  return true;
}

void Engine::Impl::onTooBig(PeerState& peer, Instant now, std::span<std::uint8_t> frame,
                            std::size_t len, std::size_t mtu) {
  auto inner = frame.subspan(protocol::kDataHeaderSize, len);
  switch (protocol::tooBigAction(inner)) {
    case protocol::TooBigAction::kRefuse: {
      drops.add(DropReason::kTooBigForPath);
      std::size_t n = protocol::buildTooBig(inner, mtu, icmp_scratch);
      if (n != 0) {
        sink.writeTun(std::span<const std::uint8_t>(icmp_scratch).first(n));
      }
      return;
    }
    case protocol::TooBigAction::kFragmentOuter:
      send_fragmentable = true;
      sealAndSend(peer, now, frame, len, false);
      send_fragmentable = false;
      return;
    case protocol::TooBigAction::kDrop:
      drops.add(DropReason::kBadInnerPacket);
      return;
  }
}

}  // namespace vpn::client
