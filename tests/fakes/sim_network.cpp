#include "tests/fakes/sim_network.hpp"

#include <algorithm>
#include <stdexcept>

#include "protocol/data_packet.hpp"

namespace vpn::test {

void SimNode::sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  net_.send(endpoint_, to, bytes);
}

void SimNode::startEngine(crypto::TlsContext& tls, client::EngineOptions options) {
  engine_.reset();
  engine_ = std::make_unique<client::Engine>(tls, std::move(options), *this);
  engine_->start(net_.clock().now());
}

void SimNode::sendTun(std::span<const std::uint8_t> inner) {
  std::vector<std::uint8_t> frame(protocol::kDataOverhead + inner.size());
  std::copy(inner.begin(), inner.end(),
            frame.begin() + static_cast<std::ptrdiff_t>(protocol::kDataHeaderSize));
  engine_->onTunPacket(net_.clock().now(), frame, inner.size());
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
                      std::span<const std::uint8_t> bytes) {
  ++sent_;
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
    if (on_deliver && !on_deliver(f.d)) {
      continue;
    }
    if (auto h = hosts_.find(f.d.to); h != hosts_.end()) {
      ++delivered_;
      h->second->onDatagram(now, f.d.from, f.d.bytes);
      continue;
    }
    for (auto& n : nodes_) {
      if (n->endpoint() == f.d.to && n->hasEngine()) {
        ++delivered_;
        n->engine().onDatagram(now, f.d.from, f.d.bytes);
        break;
      }
    }
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
