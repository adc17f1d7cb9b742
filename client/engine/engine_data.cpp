// The data path (seal/open in place, routing by certified address, inner source check), keepalive
// probes and RTT, key updates and dead-peer detection. Per-packet functions here neither allocate
// nor throw (a key update, at most once per rekey interval, derives a new cipher).
#include <algorithm>
#include <utility>

#include "base/byte_io.hpp"
#include "client/engine/engine_impl.hpp"
#include "protocol/inner_ip.hpp"

namespace vpn::client {

bool Engine::Impl::sealAndSend(PeerState& peer, Instant now, std::span<std::uint8_t> frame,
                               std::size_t len, bool keepalive, const Path* only,
                               bool expects_answer) {
  PeerSession& s = *peer.session;
  if (!keepalive && s.keys->updateDue(now, options.rekey_interval, options.rekey_after_packets)) {
    sink.completeSeals();  // packets handed over for sealing use the key we are replacing
    s.keys->initiateUpdate(now);
  }
  auto packet = frame.first(protocol::kDataOverhead + len);
  if (s.keys->exhausted()) {
    drops.add(DropReason::kKeyExhausted);
    return false;
  }
  if (!keepalive && only == nullptr && sealLater(peer, now, packet, len, expects_answer)) {
    s.last_tx = now;
    peer.tx_packets++;
    peer.tx_bytes += len;
    return true;
  }
  if (!s.keys->seal(keepalive, s.remote_index, packet, len)) {
    drops.add(DropReason::kTxTooBig);
    return false;
  }
  if (only != nullptr) {
    sendOnPath(*only, packet);
    if (expects_answer) {
      noteTx(peer, *only, now);
    }
  } else {
    sendToPeer(peer, now, packet, expects_answer);
  }
  s.last_tx = now;
  if (!keepalive) {
    peer.tx_packets++;
    peer.tx_bytes += len;
  }
  return true;
}

bool Engine::Impl::sealLater(PeerState& peer, Instant now, std::span<std::uint8_t> packet,
                             std::size_t len, bool expects_answer) {
  // Only the plain case: one UDP path (no copy on a second one), no outer seal on top.
  const Path& path = peer.session->path;
  if (!sealing_tun || outer || send_fragmentable || path.transport != Transport::kUdp ||
      path.local != 0 || !sink.sealsLater() || secondaryPath(peer, now) != nullptr) {
    return false;
  }
  PeerSession& s = *peer.session;
  auto ticket = s.keys->sealLater(s.remote_index, packet, len);
  if (!ticket) {
    return false;  // seal() refuses it the same way and says why
  }
  std::span<const std::uint8_t> out = onPathForm(path, packet);
  if (out.empty()) {
    return true;  // too big (counted): the counter is spent, nothing was sent
  }
  sink.sendSealLater(path.endpoint, out, DeferredSeal{*ticket, out.size() - packet.size(), len});
  if (expects_answer) {
    noteTx(peer, path, now);  // as sendToPeer does: a path that brings no answer is probed
  }
  return true;
}

void Engine::Impl::sendInner(PeerState& peer, Instant now, std::span<std::uint8_t> frame,
                             std::size_t len) {
  std::size_t mtu = pathMtu(*peer.session, now);
  if (len > mtu) {
    onTooBig(peer, now, frame, len, mtu);
    return;
  }
  if (mtu < options.tun_mtu) {
    // A SYN: both ends size their segments for this path.
    protocol::clampMss(frame.subspan(protocol::kDataHeaderSize, len), mtu);
  }
  if (peer.session->pmtu.provisional(len)) {
    send_fragmentable = true;  // not proven yet: delivered even if the path is smaller
    sealAndSend(peer, now, frame, len, false);
    send_fragmentable = false;
    return;
  }
  sealAndSend(peer, now, frame, len, false);
}

void Engine::Impl::onTun(Instant now, std::span<std::uint8_t> frame, std::size_t len) {
  if (frame.size() < protocol::kDataOverhead || len > frame.size() - protocol::kDataOverhead) {
    drops.add(DropReason::kTxTooBig);
    return;
  }
  auto inner = frame.subspan(protocol::kDataHeaderSize, len);
  auto addrs = protocol::parseInnerAddresses(inner);
  if (!addrs) {
    drops.add(DropReason::kBadInnerPacket);
    return;
  }
  auto it = routes.find(addrs->destination);
  if (it == routes.end()) {
    if (!rendezvous.empty()) {
      lookupAddress(now, addrs->destination);
    }
    if (!holdUnrouted(now, inner, addrs->destination)) {
      drops.add(DropReason::kNoRoute);
    }
    return;
  }
  PeerState& peer = *it->second;
  if (peer.session) {
    sendInner(peer, now, frame, len);
    return;
  }
  // No session: queue behind a handshake in progress, or start one if we know where to go.
  if (!peer.pending && peer.retry_at == kNever) {
    if (auto path = retryPath(peer, now)) {
      initiate(peer, now, *path, 0);
    }
  }
  if (peer.session) {  // cannot happen in one call, but stay correct if it ever does
    sealAndSend(peer, now, frame, len, false);
    return;
  }
  // Queued behind a handshake, or behind an attempt still looking for a path (punching, relay).
  bool connecting = peer.pending || peer.attempt_started != kNever;
  if (connecting && peer.queue.size() == 0) {
    peer.queue_since = now;
  }
  if (!connecting || !peer.queue.push(inner)) {
    drops.add(DropReason::kNoSession);
  }
}

void Engine::Impl::flushQueue(PeerState& peer, Instant now) {
  peer.queue.drain([&](std::span<const std::uint8_t> inner, const Path&) {
    std::copy(inner.begin(), inner.end(),
              scratch.begin() + static_cast<std::ptrdiff_t>(protocol::kDataHeaderSize));
    sendInner(peer, now, scratch, inner.size());
  });
}

// Which peer owns an overlay address is known from its certificate, so only once its handshake
// is done. A packet sent while peers are still connecting or looked up, or before the rendezvous
// has answered at start (the first ping, a TCP SYN of an application started with the tunnel),
// is held rather than dropped: dropped, it costs the sender a retransmission timeout (a second
// for a SYN). Held for at most the handshake timeout, in TxQueue's fixed slots; what does not
// fit is dropped.
bool Engine::Impl::holdUnrouted(Instant now, std::span<const std::uint8_t> inner,
                                const protocol::IpAddress& destination) {
  if (!destination.isRoutableUnicast()) {
    return false;  // multicast, link-local (the kernel's own IPv6 chatter): no peer holds those
  }
  // Still starting: the rendezvous is being reached, and every peer will be looked up then.
  const bool starting = !rendezvous.empty() && !anyRegistered();
  bool connecting = std::any_of(peers.begin(), peers.end(), [&](const auto& p) {
    return !p->session && (starting || p->pending || p->attempt_started != kNever);
  });
  bool looking = std::any_of(sent_lookups.begin(), sent_lookups.end(), [&](const SentLookup& l) {
    return l.at != Instant{} && now - l.at < options.handshake_timeout;
  });
  if (!connecting && !looking) {
    return false;
  }
  if (unrouted.size() > 0 && now - unrouted_since >= options.handshake_timeout) {
    for (std::size_t i = 0; i < unrouted.size(); ++i) {
      drops.add(DropReason::kNoRoute);
    }
    unrouted.clear();
  }
  if (unrouted.size() == 0) {
    unrouted_since = now;
  }
  return unrouted.push(inner);
}

// After a handshake: the held packets that now have a peer with a session go to it, in order;
// the others wait on while they are fresh. Rare (once per handshake), so it may allocate.
void Engine::Impl::flushUnrouted(Instant now) {
  if (unrouted.size() == 0) {
    return;
  }
  const bool fresh = now - unrouted_since < options.handshake_timeout;
  std::vector<std::vector<std::uint8_t>> waiting;
  unrouted.drain([&](std::span<std::uint8_t> inner, const Path&) {
    auto addrs = protocol::parseInnerAddresses(inner);
    auto it = addrs ? routes.find(addrs->destination) : routes.end();
    if (it != routes.end() && it->second->session) {
      std::copy(inner.begin(), inner.end(),
                scratch.begin() + static_cast<std::ptrdiff_t>(protocol::kDataHeaderSize));
      sendInner(*it->second, now, scratch, inner.size());
    } else if (fresh) {
      waiting.emplace_back(inner.begin(), inner.end());
    } else {
      drops.add(DropReason::kNoRoute);
    }
  });
  for (const auto& w : waiting) {
    unrouted.push(w);
  }
}

void Engine::Impl::sendKeepalive(PeerState& peer, Instant now, std::uint8_t kind,
                                 std::uint64_t token, const Path* only) {
  std::array<std::uint8_t, protocol::kDataOverhead + kLivenessSize> buf{};
  if (kind == 0) {  // empty keepalive
    sealAndSend(peer, now, buf, 0, true, only, false);
    return;
  }
  ByteWriter w(std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize, kLivenessSize));
  w.u8(kind);
  w.u64(token);
  sealAndSend(peer, now, buf, kLivenessSize, true, only, kind == kLivenessRequest);
}

void Engine::Impl::probePath(PeerState& peer, Instant now, const Path* path) {
  PeerSession& s = *peer.session;
  s.probe_token = next_probe_token++;
  s.probe_sent_at = now;
  s.probe_outstanding = true;
  sendKeepalive(peer, now, kLivenessRequest, s.probe_token, path);
}

void Engine::Impl::validatePath(PeerState& peer, Instant now, const Path& path,
                                std::string reason) {
  PeerSession& s = *peer.session;
  peer.validating = path;
  peer.validating_reason = std::move(reason);
  peer.validating_probe_at = now;
  s.validation_token = next_probe_token++;
  sendKeepalive(peer, now, kLivenessRequest, s.validation_token, &path);
}

void Engine::Impl::openEarly(PeerState& peer, Instant now) {
  peer.early.drain([&](std::span<std::uint8_t> datagram, const Path& from) {
    if (peer.session) {
      onData(now, from, datagram);
    }
  });
}

std::optional<session::SealTicket> Engine::Impl::planOpen(
    const Path& from, std::span<const std::uint8_t> datagram) const {
  // Only what onData opens with a running session's current keys, and only when nothing is
  // unwrapped first (an outer seal) or demultiplexed (a relay header).
  if (outer || from.relayed() ||
      protocol::classify(datagram) != protocol::PacketFamily::kData) {
    return std::nullopt;
  }
  auto header = protocol::parseDataHeader(datagram);
  if (!header || header->keepalive || header->control) {
    return std::nullopt;
  }
  auto it = by_index.find(header->receiver_index);
  if (it == by_index.end()) {
    return std::nullopt;
  }
  const PeerState& peer = *it->second;
  if ((peer.previous && peer.previous->local_index == header->receiver_index) || !peer.session ||
      peer.session->local_index != header->receiver_index) {
    return std::nullopt;
  }
  return peer.session->keys->planOpen(*header);
}

void Engine::Impl::onData(Instant now, const Path& from, std::span<std::uint8_t> datagram) {
  auto header = protocol::parseDataHeader(datagram);
  if (!header) {
    drops.add(DropReason::kMalformed);
    return;
  }
  auto it = by_index.find(header->receiver_index);
  if (it == by_index.end()) {
    if (from.relayed() || !onRendezvousSealed(now, from, *header, datagram)) {
      drops.add(DropReason::kUnknownIndex);
    }
    return;
  }
  if (it->second->previous && it->second->previous->local_index == header->receiver_index) {
    onPreviousData(*it->second, now, *header, datagram);
    return;
  }
  if (!it->second->session || it->second->session->local_index != header->receiver_index) {
    PeerState& waiting = *it->second;
    bool attempt = (waiting.pending && waiting.pending->localIndex() == header->receiver_index) ||
                   (waiting.rival && waiting.rival->localIndex() == header->receiver_index);
    if (!attempt || !waiting.early.push(datagram, from)) {
      drops.add(DropReason::kUnknownIndex);
    }
    return;
  }
  PeerState& peer = *it->second;
  PeerSession& s = *peer.session;
  // Opened already (Engine::onDatagramOpened) or here; once only: the pointer is for this datagram.
  const session::PreOpened* pre = std::exchange(pre_opened, nullptr);
  auto r = s.keys->open(now, *header, datagram, s.keyGrace(), pre);
  if (r.status == DataKeys::OpenStatus::kReplay) {
    drops.add(DropReason::kReplay);
    return;
  }
  if (r.status != DataKeys::OpenStatus::kOk) {
    drops.add(DropReason::kAuthFailed);
    return;
  }
  // Authenticated from here on.
  s.last_rx = now;
  onAuthenticated(peer, now, from, r.newest);
  if (!peer.session) {
    return;
  }
  if (r.rotated) {
    sendKeepalive(peer, now, 0, 0);  // lets the peer see our new phase soon, even if we're idle
  }
  auto plain = datagram.subspan(protocol::kDataHeaderSize,
                                datagram.size() - protocol::kDataOverhead);
  if (header->keepalive) {
    if (onPmtuKeepalive(peer, now, plain)) {
      return;
    }
    bool malformed = false;
    bool awaiting = s.probe_outstanding;
    if (auto token = s.onKeepalive(now, plain, malformed)) {
      // Answer on the path the request came on, so the reply proves that path both ways.
      sendKeepalive(peer, now, kLivenessReply, *token, &from);
    }
    if (s.validation_token != 0 && s.last_reply_token == s.validation_token) {
      s.validation_token = 0;
      onPathValidated(peer, now, from);
    }
    if (awaiting && !s.probe_outstanding && s.srtt) {
      Duration sample = now - s.probe_sent_at;
      auto smooth = [&](std::optional<Duration>& v) { v = v ? (*v * 7 + sample) / 8 : sample; };
      if (from.direct() && peer.direct && peer.direct->path == from) {
        smooth(peer.direct->srtt);
      } else if (from.relayed()) {
        smooth(peer.relay_srtt);
      }
    }
    if (malformed) {
      drops.add(DropReason::kMalformed);
    }
    return;
  }
  deliverInner(peer, plain);
}

void Engine::Impl::deliverInner(PeerState& peer, std::span<std::uint8_t> plain) {
  auto addrs = protocol::parseInnerAddresses(plain);
  if (!addrs) {
    drops.add(DropReason::kBadInnerPacket);
    return;
  }
  if (!peer.hasSourceAddress(addrs->source)) {
    drops.add(DropReason::kBadInnerSource);
    return;
  }
  if (peer.session && peer.session->pmtu.mtu() < options.tun_mtu) {
    protocol::clampMss(plain, peer.session->pmtu.mtu());  // the SYN-ACK, or a SYN from the peer
  }
  peer.rx_packets++;
  peer.rx_bytes += plain.size();
  sink.writeTun(plain);
}

void Engine::Impl::serviceSession(PeerState& peer, Instant now) {
  PeerSession& s = *peer.session;
  if (now - s.last_rx >= options.dead_peer_timeout) {
    dropSession(peer, now, "peer unresponsive: no authenticated packet for " +
                               std::to_string(static_cast<long long>(
                                   toSeconds(options.dead_peer_timeout))) + " s");
    return;
  }
  PathSink out(*this, s.path);
  if (auto token = s.upkeep(now, timing(), out, next_probe_token)) {
    sendKeepalive(peer, now, kLivenessRequest, *token);
  }
  if (peer.session) {
    servicePmtu(peer, now);
  }
}

}  // namespace vpn::client
