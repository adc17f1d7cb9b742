// Relay channels and forwarding (docs/paths.md). A channel joins two registered peers under one
// number, the same in both tables, and forwards only once both have asked for it (consent). A relay packet is accepted only from the current path of an
// authenticated session (the path index), only on one of that session's channels, and only
// carrying a peer-to-peer handshake (whose HELLO, if any, names the sender's certified name), data
// or keepalive packet; it leaves unchanged (the channel
// number is the same at the other end) to the partner's current path. Nothing is copied.
#include <algorithm>
#include <vector>

#include "crypto/random.hpp"
#include "protocol/relay_packet.hpp"
#include "rendezvous/engine/engine_impl.hpp"

namespace vpn::rendezvous {
namespace {

// Random picks before giving up: with at most relay_max_channels (256 by default) of 65535 taken
// on each side, 32 misses in a row are very unlikely unless the tables are nearly full.
constexpr int kChannelTries = 32;

// A handshake packet that names its sender (HELLO) must name the sender's certified name: the
// receiving peer picks TLS roles and its attempt by that name, so a member must not speak as
// another over our relay. Unparseable ones are dropped here too.
bool helloNamesSender(std::span<const std::uint8_t> inner, const std::string& sender_name) {
  auto p = protocol::parseHandshake(inner);
  return p.ok() && (!p->hasHello() || p->name == sender_name);
}

}  // namespace

void RendezvousEngine::Impl::onRelay(Instant now, SocketId on, const protocol::Endpoint& from,
                                     std::span<const std::uint8_t> bytes) {
  auto channel = protocol::parseRelayChannel(bytes);
  if (!channel) {
    drop(Drop::kMalformed);
    return;
  }
  if (!options.relay) {
    drop(Drop::kRelayDisabled);
    return;
  }
  PeerRecord* sender = registry.byPath(on, from);
  if (sender == nullptr) {
    drop(Drop::kRelayUnknownSender);
    return;
  }
  RelayChannel* entry = sender->entryOn(*channel);
  PeerRecord* partner = entry == nullptr ? nullptr : registry.byIndex(entry->partner);
  if (partner == nullptr) {
    drop(Drop::kRelayUnknownChannel);
    return;
  }
  const RelayChannel* theirs = partner->entryOn(*channel);
  if (!entry->asked || theirs == nullptr || !theirs->asked) {
    drop(Drop::kRelayNoConsent);
    return;
  }
  if (partner->unreachable) {
    drop(Drop::kPeerUnreachable);  // before the limits: it costs the sender nothing
    return;
  }
  if (auto refused = checkRelayInner(protocol::relayInner(bytes), sender->name)) {
    drop(*refused);
    return;
  }
  const auto size = static_cast<std::uint64_t>(bytes.size());
  if (options.relay_max_bytes != 0 && sender->relayed_bytes + size > options.relay_max_bytes) {
    drop(Drop::kRelayQuota);
    return;
  }
  const auto cost = static_cast<double>(size);
  if (!sender->relay.take(now, options.relay_rate, options.relay_burst, cost)) {
    drop(Drop::kRelayRateLimited);
    return;
  }
  if (!partner->relay_rx.take(now, options.relay_rate, options.relay_burst, cost)) {
    drop(Drop::kRelayRateLimitedReceiver);
    return;
  }
  if (!relay_global.take(now, options.relay_global_rate, options.relay_global_burst, cost)) {
    drop(Drop::kRelayRateLimitedGlobal);
    return;
  }
  entry->last_used = now;
  sink.sendFrom(partner->socket, partner->endpoint, bytes);
  sender->relayed_bytes += size;
  counters.relayed_packets++;
  counters.relayed_bytes += size;
}

std::optional<Drop> RendezvousEngine::Impl::checkRelayInner(std::span<const std::uint8_t> inner,
                                                           const std::string& sender_name) {
  switch (protocol::classify(inner)) {
    case protocol::PacketFamily::kData:
    case protocol::PacketFamily::kKeepalive:
      return std::nullopt;  // sealed end to end by the pair's session; nothing for us to check
    case protocol::PacketFamily::kHandshake:
      if (outer) {
        return Drop::kNetworkKeyMissing;  // members seal their handshakes, relayed ones too
      }
      break;
    case protocol::PacketFamily::kSealed:
      if (!outer) {
        return Drop::kNetworkKeyUnexpected;
      }
      inner = openRelayed(inner);
      if (inner.empty()) {
        return Drop::kNetworkKeyMismatch;
      }
      if (protocol::classify(inner) != protocol::PacketFamily::kHandshake) {
        return Drop::kRelayBadInner;
      }
      break;
    default:
      return Drop::kRelayBadInner;
  }
  if (!helloNamesSender(inner, sender_name)) {
    return Drop::kRelayNameMismatch;
  }
  return std::nullopt;
}

std::uint16_t RendezvousEngine::Impl::newChannel(const PeerRecord& a, const PeerRecord& b) {
  for (int i = 0; i < kChannelTries; ++i) {
    auto ch = static_cast<std::uint16_t>(crypto::randomU32());
    if (ch != 0 && !a.channelInUse(ch) && !b.channelInUse(ch)) {
      return ch;
    }
  }
  return 0;
}

void RendezvousEngine::Impl::relayFailed(PeerRecord& r, std::uint32_t request_id,
                                         protocol::RelayFailure reason,
                                         const std::string& peer_name) {
  counters.relay_failures++;
  protocol::RelayFailedMsg m;
  m.request_id = request_id;
  m.reason = reason;
  m.peer_name = peer_name;
  sendControl(r, m);
}

void RendezvousEngine::Impl::onRelayRequest(Instant now, PeerRecord& r,
                                            const protocol::RelayRequestMsg& m) {
  // Shares the lookup bucket: both are cheap requests a peer makes when it seeks a path.
  if (!r.lookups.take(now, options.lookup_per_second, options.lookup_burst)) {
    drop(Drop::kRelayRequestRateLimited);  // no reason fits; the peer asks again later
    return;
  }
  if (!options.relay) {
    relayFailed(r, m.request_id, protocol::RelayFailure::kDisabled, m.peer_name);
    return;
  }
  PeerRecord* target = registry.byName(m.peer_name);
  if (target == &r) {
    relayFailed(r, m.request_id, protocol::RelayFailure::kNotAllowed, m.peer_name);
    return;
  }
  if (target == nullptr || !target->registered() || target->unreachable) {
    relayFailed(r, m.request_id, protocol::RelayFailure::kNotRegistered, m.peer_name);
    return;
  }
  std::uint16_t channel = r.channelTo(target->local_index);
  if (channel == 0) {
    if (r.channels.size() >= options.relay_max_channels ||
        target->channels.size() >= options.relay_max_channels) {
      relayFailed(r, m.request_id, protocol::RelayFailure::kChannelLimit, m.peer_name);
      return;
    }
    channel = newChannel(r, *target);
    if (channel == 0) {
      relayFailed(r, m.request_id, protocol::RelayFailure::kChannelLimit, m.peer_name);
      return;
    }
    registry.bind(r, *target, channel);
  }
  RelayChannel* mine = r.entryOn(channel);
  RelayChannel* theirs = target->entryOn(channel);
  bool was_live = mine->asked && theirs->asked;
  mine->asked = true;
  mine->request_id = m.request_id;
  mine->last_used = now;
  if (!theirs->asked) {
    // An offer: the target consents by asking for the channel itself (RELAY_BOUND with request id
    // 0 means "this peer asks to relay with you"). Until then nothing is forwarded.
    counters.relay_offers++;
    sendControl(*target, protocol::RelayBoundMsg{0, channel, r.name});
    return;
  }
  if (!was_live) {
    counters.relay_binds++;
    // The partner first: it must know the channel before the asker's first packet on it arrives.
    sendControl(*target, protocol::RelayBoundMsg{theirs->request_id, channel, r.name});
  }
  sendControl(r, protocol::RelayBoundMsg{m.request_id, channel, target->name});
}

void RendezvousEngine::Impl::sweepRelay(Instant now) {
  // A channel neither side has asked for (refreshed) or sent on for relay_idle is freed, so
  // channels a peer stopped wanting do not fill its table for good.
  std::vector<std::pair<PeerRecord*, std::uint16_t>> idle;
  registry.forEach([&](PeerRecord& r) {
    for (const auto& c : r.channels) {
      if (c.partner < r.local_index) {
        continue;  // each pair once, from the side with the lower index
      }
      PeerRecord* p = registry.byIndex(c.partner);
      const RelayChannel* pc = p != nullptr ? p->entryOn(c.channel) : nullptr;
      Instant last = std::max(c.last_used, pc != nullptr ? pc->last_used : Instant{});
      if (now - last >= options.relay_idle) {
        idle.emplace_back(&r, c.channel);
      }
    }
  });
  for (auto [r, channel] : idle) {
    if (registry.unbind(*r, channel)) {
      counters.relay_idle_freed++;
    }
  }
}

}  // namespace vpn::rendezvous
