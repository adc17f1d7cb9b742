// setPeers: the peer list changes while running (a reload). Peers no longer listed are closed
// and forgotten; new ones are added and, with an endpoint, dialled; peers still listed keep
// their session untouched (a changed endpoint is used for the next attempt).
#include <algorithm>

#include "client/engine/engine_impl.hpp"

namespace vpn::client {

void Engine::Impl::addPeer(const PeerSpec& spec, Instant now) {
  auto p = std::make_unique<PeerState>();
  p->name = spec.name;
  p->configured_endpoint = spec.endpoint;
  p->we_are_client = options.own_name < spec.name;
  p->relay.backoff = seconds(1);
  p->direct_retry_backoff = options.direct_retry;
  PeerState& peer = *p;
  peers.push_back(std::move(p));
  if (peer.configured_endpoint) {
    initiate(peer, now, Path::udp(*peer.configured_endpoint), 0);
  }
}

void Engine::Impl::removePeer(PeerState& peer) {
  dropPrevious(peer);
  dropRival(peer);
  dropPending(peer);
  if (peer.session) {
    by_index.erase(peer.session->local_index);
    peer.session.reset();
  }
  for (std::uint16_t local : peer.predict.locals) {
    sink.closePredictionSocket(local);  // the sockets are the sink's; the peer is gone
  }
  std::erase_if(by_index, [&](const auto& e) { return e.second == &peer; });
  std::erase_if(routes, [&](const auto& e) { return e.second == &peer; });
  std::erase_if(peers, [&](const std::unique_ptr<PeerState>& p) { return p.get() == &peer; });
}

void Engine::Impl::setPeers(Instant now, std::vector<PeerSpec> specs) {
  std::vector<PeerState*> gone;
  for (auto& p : peers) {
    bool listed = std::any_of(specs.begin(), specs.end(),
                              [&](const PeerSpec& s) { return s.name == p->name; });
    if (!listed) {
      gone.push_back(p.get());
    }
  }
  for (PeerState* p : gone) {
    removePeer(*p);
  }
  for (const auto& spec : specs) {
    if (spec.name.empty() || spec.name == options.own_name) {
      continue;  // the file's validation refuses these; stay safe if a caller does not
    }
    if (PeerState* existing = findPeer(spec.name)) {
      existing->configured_endpoint = spec.endpoint;
    } else {
      addPeer(spec, now);
    }
  }
  options.peers = std::move(specs);
}

void Engine::setPeers(Instant now, std::vector<PeerSpec> peers) {
  impl_->setPeers(now, std::move(peers));
}

}  // namespace vpn::client
