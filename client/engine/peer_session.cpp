#include "client/engine/peer_session.hpp"

#include "base/byte_io.hpp"

namespace vpn::client {

std::unique_ptr<PeerSession> PeerSession::establish(std::unique_ptr<Handshake> hs,
                                                    std::unique_ptr<DataKeys> keys, Instant now,
                                                    const SessionTiming& timing,
                                                    const Path& path) {
  auto s = std::make_unique<PeerSession>();
  s->local_index = hs->localIndex();
  s->remote_index = hs->remoteIndex();
  s->path = path;
  s->keys = std::move(keys);
  s->established_at = now;
  s->last_rx = now;
  s->last_tx = now;
  s->next_probe_at = now + timing.keepalive_interval;
  s->srtt = hs->channel().srtt();
  s->linger = std::move(hs);
  s->linger_until = now + timing.linger;
  return s;
}

std::optional<std::uint64_t> PeerSession::upkeep(Instant now, const SessionTiming& timing,
                                                 session::DatagramSink& sink,
                                                 std::uint64_t& next_token) {
  keys->expire(now);
  if (linger) {
    if (now >= linger_until) {
      linger.reset();
      linger_until = kNever;
    } else {
      linger->flush(now, sink);
    }
  }
  if (keys->updateDue(now, timing.rekey_interval, timing.rekey_after_packets)) {
    keys->initiateUpdate(now);
  }
  if (now < next_probe_at) {
    return std::nullopt;
  }
  probe_token = next_token++;
  probe_sent_at = now;
  probe_outstanding = true;
  next_probe_at = now + timing.keepalive_interval;
  return probe_token;
}

std::optional<std::uint64_t> PeerSession::onKeepalive(Instant now,
                                                      std::span<const std::uint8_t> plain,
                                                      bool& malformed) {
  malformed = false;
  if (plain.empty()) {
    return std::nullopt;
  }
  if (plain.size() != kLivenessSize) {
    malformed = true;
    return std::nullopt;
  }
  ByteReader rd(plain);
  std::uint8_t kind = rd.u8();
  std::uint64_t token = rd.u64();
  if (kind == kLivenessRequest) {
    return token;
  }
  if (kind == kLivenessReply) {
    last_reply_token = token;
    if (probe_outstanding && token == probe_token && now >= probe_sent_at) {
      probe_outstanding = false;
      onRttSample(now - probe_sent_at);
    }
    return std::nullopt;
  }
  malformed = true;
  return std::nullopt;
}

}  // namespace vpn::client
