#include "tests/fakes/sim_network.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "protocol/data_packet.hpp"

namespace vpn::test {

void SimNode::sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  net_.send(sourceFor(to), to, false, bytes);
}

void SimNode::sendFragmentable(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  ++fragmentable_sent;
  net_.send(sourceFor(to), to, true, bytes);
}

void SimNode::sendTcp(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  net_.sendTcpFrom(endpoint_, to, bytes);
}

void SimNode::closeTcp(const protocol::Endpoint& to) { net_.closeTcpFrom(endpoint_, to); }

std::vector<std::uint16_t> SimNode::openPredictionSockets(std::size_t count,
                                                          protocol::IpAddress::Family family) {
  const protocol::Endpoint& base =
      other_family_ && other_family_->address().family() == family ? *other_family_ : endpoint_;
  std::vector<std::uint16_t> out;
  if (base.address().family() != family) {
    return out;
  }
  for (std::size_t i = 0; i < count && next_local_ < 20000; ++i) {
    std::uint16_t local = next_local_++;
    prediction_[local] = protocol::Endpoint(base.address(), static_cast<std::uint16_t>(20000 + local));
    out.push_back(local);
  }
  return out;
}

void SimNode::sendDatagramVia(std::uint16_t local, const protocol::Endpoint& to,
                              std::span<const std::uint8_t> bytes) {
  if (local == 0) {
    sendDatagram(to, bytes);
    return;
  }
  if (auto it = prediction_.find(local); it != prediction_.end()) {
    net_.send(it->second, to, false, bytes);
  }
}

std::optional<std::uint16_t> SimNode::predictionSocketAt(const protocol::Endpoint& ep) const {
  for (const auto& [local, at] : prediction_) {
    if (at == ep) {
      return local;
    }
  }
  return std::nullopt;
}

void SimNode::moveTo(const protocol::Endpoint& ep) {
  net_.resetTcp(endpoint_);
  endpoint_ = ep;
}

void SimNode::startEngine(crypto::TlsContext& tls, client::EngineOptions options) {
  engine_.reset();
  engine_ = std::make_unique<client::Engine>(tls, std::move(options), *this);
  engine_->start(net_.clock().now());
}

void SimNode::sendTun(std::span<const std::uint8_t> inner) {
  if (aead_batch_ && !in_batch_) {
    sendTunBatch({std::vector<std::uint8_t>(inner.begin(), inner.end())});  // a batch of one
    return;
  }
  std::vector<std::uint8_t> frame(protocol::kDataOverhead + inner.size());
  std::copy(inner.begin(), inner.end(),
            frame.begin() + static_cast<std::ptrdiff_t>(protocol::kDataHeaderSize));
  engine_->onTunPacket(net_.clock().now(), frame, inner.size());
}

SimNode::SimNode(SimNetwork& net, protocol::Endpoint ep) : net_(net), endpoint_(ep) {
  if (const char* n = std::getenv("SIM_SEAL_BATCHES"); n != nullptr && std::atoi(n) > 0) {
    sealInBatches(static_cast<std::size_t>(std::atoi(n)));
  }
}

void SimNode::sealInBatches(std::size_t lanes) {
  aead_batch_ = std::make_unique<session::AeadBatch>(lanes, 1024);
  held_.reserve(1024);  // held datagrams must not move while their seal is queued
}

void SimNode::sendTunBatch(const std::vector<std::vector<std::uint8_t>>& inners) {
  in_batch_ = true;
  for (const auto& p : inners) {
    sendTun(p);
  }
  in_batch_ = false;
  completeSeals();
}

void SimNode::sendSealLater(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes,
                            const client::DeferredSeal& seal) {
  if (held_.size() == held_.capacity()) {
    completeSeals();
  }
  held_.push_back(Held{to, std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
  auto& b = held_.back().bytes;
  aead_batch_->addSeal(std::span<std::uint8_t>(b).subspan(seal.offset), seal.payload_len, seal.ticket);
}

void SimNode::completeSeals() {
  if (!aead_batch_) {
    return;
  }
  aead_batch_->run();
  for (const auto& h : held_) {
    net_.send(sourceFor(h.to), h.to, false, h.bytes);
  }
  held_.clear();
}

client::EngineStatus SimNode::status() const { return engine_->status(net_.clock_.now()); }

SimNode& SimNetwork::addNode(const protocol::Endpoint& ep) {
  nodes_.push_back(std::make_unique<SimNode>(*this, ep));
  return *nodes_.back();
}

void SimNetwork::cut(const protocol::Endpoint& a, const protocol::Endpoint& b, bool is_cut) {
  if (is_cut) {
    cuts_.insert({a, b});
    cuts_.insert({b, a});
  } else {
    cuts_.erase({a, b});
    cuts_.erase({b, a});
  }
}

void SimNetwork::send(const protocol::Endpoint& from, const protocol::Endpoint& to,
                      bool fragmentable, std::span<const std::uint8_t> bytes) {
  ++sent_;
  if (max_datagram != 0 && bytes.size() > max_datagram && !fragmentable) {
    return;
  }
  Datagram d{from, to, std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
  if (on_send) {
    on_send(d);
  }
  if (on_route && !on_route(d)) {
    return;
  }
  if (cuts_.count({d.from, d.to}) != 0) {
    return;
  }
  auto it = links_.find({d.from, d.to});
  const LinkConfig& cfg = it != links_.end() ? it->second : default_link_;
  for (Duration delay : link_.transmit(cfg)) {
    queue_.push(InFlight{clock_.now() + delay, seq_++, d});
  }
}

void SimNetwork::inject(const protocol::Endpoint& from, const protocol::Endpoint& to,
                        std::vector<std::uint8_t> bytes, Duration delay) {
  queue_.push(InFlight{clock_.now() + delay, seq_++, Datagram{from, to, std::move(bytes)}});
}

Instant SimNetwork::nextEvent() const {
  Instant next = queue_.empty() ? kNever : queue_.top().at;
  for (const auto& n : nodes_) {
    if (n->hasEngine()) {
      next = std::min(next, n->engine().nextDeadline());
    }
  }
  for (const auto& [ep, host] : hosts_) {
    next = std::min(next, host->nextDeadline());
  }
  return next;
}

bool SimNetwork::step(Instant limit) {
  Instant next = nextEvent();
  if (next > limit) {
    clock_.set(std::max(clock_.now(), limit));
    return false;
  }
  if (next > clock_.now()) {
    clock_.set(next);
    stalled_steps_ = 0;
  } else if (++stalled_steps_ > 100000) {
    throw std::runtime_error("simulation stalled: a deadline stays in the past");
  }
  Instant now = clock_.now();
  while (!queue_.empty() && queue_.top().at <= now) {
    InFlight f = queue_.top();
    queue_.pop();
    deliver(now, f);
  }
  for (auto& n : nodes_) {
    if (n->hasEngine() && n->engine().nextDeadline() <= now) {
      n->engine().onTimer(now);
    }
  }
  for (auto& [ep, host] : hosts_) {
    if (host->nextDeadline() <= now) {
      host->onTimer(now);
    }
  }
  return true;
}

void SimNetwork::deliver(Instant now, const InFlight& f) {
  Datagram d = f.d;
  if (!d.tcp && on_deliver && !on_deliver(d)) {
    return;
  }
  if (auto h = hosts_.find(d.to); h != hosts_.end()) {
    ++delivered_;
    if (f.closed) {
      h->second->onTcpClosed(now, d.from);
    } else if (d.tcp) {
      ++tcp_delivered_;
      h->second->onTcpDatagram(now, d.from, d.bytes);
    } else {
      h->second->onDatagram(now, d.from, d.bytes);
    }
    return;
  }
  for (auto& n : nodes_) {
    if (n->isAt(d.to) && n->hasEngine()) {
      ++delivered_;
      if (f.closed) {
        n->engine().onTcpClosed(now, d.from, "connection closed");
      } else if (d.tcp) {
        ++tcp_delivered_;
        n->engine().onDatagram(now, d.from, d.bytes, client::Transport::kTcp);
      } else {
        n->engine().onDatagram(now, d.from, d.bytes);
      }
      break;
    }
    if (!d.tcp && !f.closed && n->hasEngine()) {
      if (auto local = n->predictionSocketAt(d.to)) {
        ++delivered_;
        n->engine().onDatagram(now, d.from, d.bytes, client::Transport::kUdp, *local);
        break;
      }
    }
  }
}

void SimNetwork::tcpNotify(const protocol::Endpoint& to, const protocol::Endpoint& remote) {
  InFlight f{clock_.now() + default_link_.delay, seq_++, Datagram{remote, to, {}, true}};
  f.closed = true;
  queue_.push(std::move(f));
}

void SimNetwork::tcpQueue(TcpConn& c, const protocol::Endpoint& from, const protocol::Endpoint& to,
                          std::span<const std::uint8_t> bytes) {
  ++sent_;
  Datagram d{from, to, std::vector<std::uint8_t>(bytes.begin(), bytes.end()), true};
  if (on_send) {
    on_send(d);
  }
  Instant at = std::max(clock_.now() + default_link_.delay, c.last_at);
  c.last_at = at;
  queue_.push(InFlight{at, seq_++, std::move(d)});
}

void SimNetwork::sendTcpFrom(const protocol::Endpoint& from, const protocol::Endpoint& to,
                             std::span<const std::uint8_t> bytes) {
  for (auto& c : tcp_) {
    if (c.client == from && c.server == to) {
      tcpQueue(c, c.apparent, c.owner, bytes);
      return;
    }
    if ((c.server == from || c.owner == from) && c.apparent == to) {
      tcpQueue(c, c.server, c.client, bytes);
      return;
    }
  }
  auto listener = tcp_listeners_.find(to);
  if (listener == tcp_listeners_.end() || (on_tcp_allow && !on_tcp_allow(from, to))) {
    tcpNotify(from, to);  // refused (or silently dropped by a firewall: reported as a failure)
    return;
  }
  TcpConn c;
  c.client = from;
  c.apparent = on_tcp_connect ? on_tcp_connect(from) : from;
  c.server = to;
  c.owner = listener->second;
  tcp_.push_back(c);
  tcpQueue(tcp_.back(), c.apparent, c.owner, bytes);
}

void SimNetwork::closeTcpFrom(const protocol::Endpoint& from, const protocol::Endpoint& to) {
  for (auto it = tcp_.begin(); it != tcp_.end(); ++it) {
    if (it->client == from && it->server == to) {
      tcpNotify(it->owner, it->apparent);
      tcp_.erase(it);
      return;
    }
    if ((it->server == from || it->owner == from) && it->apparent == to) {
      tcpNotify(it->client, it->server);
      tcp_.erase(it);
      return;
    }
  }
}

void SimNetwork::resetTcp(const protocol::Endpoint& ep) {
  for (auto it = tcp_.begin(); it != tcp_.end();) {
    if (it->client == ep || it->server == ep || it->owner == ep || it->apparent == ep) {
      tcpNotify(it->owner, it->apparent);
      tcpNotify(it->client, it->server);
      it = tcp_.erase(it);
    } else {
      ++it;
    }
  }
}

void SimNetwork::runFor(Duration d) {
  Instant limit = clock_.now() + d;
  while (step(limit)) {
  }
}

bool SimNetwork::runUntil(const std::function<bool()>& pred, Duration limit) {
  Instant end = clock_.now() + limit;
  if (pred()) {
    return true;
  }
  while (step(end)) {
    if (pred()) {
      return true;
    }
  }
  return pred();
}

}  // namespace vpn::test
