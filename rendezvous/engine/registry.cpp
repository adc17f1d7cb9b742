#include "rendezvous/engine/registry.hpp"

#include <algorithm>

namespace vpn::rendezvous {

bool TokenBucket::take(Instant now, double per_second, double burst, double cost) {
  if (tokens < 0) {
    tokens = burst;
  } else if (now > updated) {
    tokens = std::min(burst, tokens + toSeconds(now - updated) * per_second);
  }
  updated = now;
  if (tokens < std::min(cost, burst)) {
    return false;
  }
  tokens = std::max(0.0, tokens - cost);
  return true;
}

std::uint32_t PeerRecord::partnerOn(std::uint16_t channel) const {
  auto it = std::lower_bound(
      channels.begin(), channels.end(), channel,
      [](const RelayChannel& c, std::uint16_t ch) { return c.channel < ch; });
  return it != channels.end() && it->channel == channel ? it->partner : 0;
}

RelayChannel* PeerRecord::entryOn(std::uint16_t channel) {
  auto it = std::lower_bound(
      channels.begin(), channels.end(), channel,
      [](const RelayChannel& c, std::uint16_t ch) { return c.channel < ch; });
  return it != channels.end() && it->channel == channel ? &*it : nullptr;
}

std::uint16_t PeerRecord::channelTo(std::uint32_t partner) const {
  for (const auto& c : channels) {
    if (c.partner == partner) {
      return c.channel;
    }
  }
  return 0;
}

std::size_t Registry::PathKeyHash::operator()(const PathKey& k) const noexcept {
  std::size_t h = protocol::EndpointHash{}(k.endpoint);
  std::size_t s = (static_cast<std::size_t>(k.socket.role) << 8) | k.socket.listen;
  s ^= static_cast<std::size_t>(k.socket.conn) << 16;
  return h ^ (s + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

void Registry::indexPath(PeerRecord& r) {
  by_path_[PathKey{r.socket, r.endpoint}] = &r;
  if (r.overTcp()) {
    by_conn_.emplace(r.socket.conn, &r);
  }
}

void Registry::unindexPath(PeerRecord& r) {
  auto it = by_path_.find(PathKey{r.socket, r.endpoint});
  if (it != by_path_.end() && it->second == &r) {
    by_path_.erase(it);
  }
  if (r.overTcp()) {
    auto [b, e] = by_conn_.equal_range(r.socket.conn);
    for (auto c = b; c != e; ++c) {
      if (c->second == &r) {
        by_conn_.erase(c);
        break;
      }
    }
  }
}

std::pair<PeerRecord*, bool> Registry::insert(std::unique_ptr<PeerRecord> record) {
  bool replaced = false;
  if (PeerRecord* old = byName(record->name)) {
    remove(*old);
    replaced = true;
  }
  PeerRecord* r = record.get();
  by_index_[r->local_index] = std::move(record);
  by_name_[r->name] = r;
  for (const auto& a : r->addresses) {
    by_address_[a.address()] = r;
  }
  if (!r->unreachable) {
    indexPath(*r);
  }
  return {r, replaced};
}

void Registry::unbindAll(PeerRecord& r) {
  for (const auto& c : r.channels) {
    PeerRecord* p = byIndex(c.partner);
    if (p == nullptr) {
      continue;
    }
    auto it = std::find_if(p->channels.begin(), p->channels.end(), [&](const RelayChannel& pc) {
      return pc.channel == c.channel && pc.partner == r.local_index;
    });
    if (it != p->channels.end()) {
      p->channels.erase(it);
    }
    if (p->channels.empty()) {
      p->channels.shrink_to_fit();  // most peers relay rarely: give the memory back
    }
  }
  r.channels.clear();
}

void Registry::remove(PeerRecord& record) {
  unbindAll(record);
  if (!record.unreachable) {
    unindexPath(record);
  }
  for (const auto& a : record.addresses) {
    auto it = by_address_.find(a.address());
    if (it != by_address_.end() && it->second == &record) {
      by_address_.erase(it);
    }
  }
  auto n = by_name_.find(record.name);
  if (n != by_name_.end() && n->second == &record) {
    by_name_.erase(n);
  }
  by_index_.erase(record.local_index);  // destroys the record: last
}

PeerRecord* Registry::byIndex(std::uint32_t local_index) {
  auto it = by_index_.find(local_index);
  return it == by_index_.end() ? nullptr : it->second.get();
}

PeerRecord* Registry::byName(std::string_view name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

PeerRecord* Registry::byAddress(const protocol::IpAddress& address) {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? nullptr : it->second;
}

PeerRecord* Registry::byPath(SocketId socket, const protocol::Endpoint& from) {
  auto it = by_path_.find(PathKey{socket, from});
  return it == by_path_.end() ? nullptr : it->second;
}

void Registry::setPath(PeerRecord& r, SocketId socket, const protocol::Endpoint& endpoint) {
  if (!r.unreachable) {
    if (r.socket == socket && r.endpoint == endpoint) {
      // Still here; take the path back if another session moved onto it since.
      PeerRecord*& slot = by_path_[PathKey{socket, endpoint}];
      slot = &r;
      return;
    }
    unindexPath(r);
  }
  r.socket = socket;
  r.endpoint = endpoint;
  r.unreachable = false;
  indexPath(r);
}

std::size_t Registry::closeConnection(std::uint32_t conn) {
  auto [b, e] = by_conn_.equal_range(conn);
  std::vector<PeerRecord*> on;
  for (auto it = b; it != e; ++it) {
    on.push_back(it->second);
  }
  for (PeerRecord* r : on) {
    unindexPath(*r);
    r->unreachable = true;
  }
  return on.size();
}

void Registry::bind(PeerRecord& a, PeerRecord& b, std::uint16_t channel) {
  auto add = [channel](PeerRecord& r, std::uint32_t partner) {
    auto it = std::lower_bound(
        r.channels.begin(), r.channels.end(), channel,
        [](const RelayChannel& c, std::uint16_t ch) { return c.channel < ch; });
    RelayChannel c;
    c.channel = channel;
    c.partner = partner;
    r.channels.insert(it, c);
  };
  add(a, b.local_index);
  add(b, a.local_index);
}

bool Registry::unbind(PeerRecord& a, std::uint16_t channel) {
  auto drop = [channel](PeerRecord& r) {
    auto it = std::find_if(r.channels.begin(), r.channels.end(),
                           [&](const RelayChannel& c) { return c.channel == channel; });
    if (it == r.channels.end()) {
      return false;
    }
    r.channels.erase(it);
    if (r.channels.empty()) {
      r.channels.shrink_to_fit();
    }
    return true;
  };
  std::uint32_t partner = a.partnerOn(channel);
  if (!drop(a)) {
    return false;
  }
  if (PeerRecord* p = byIndex(partner); p != nullptr) {
    drop(*p);
  }
  return true;
}

std::size_t Registry::expire(Instant now, Duration ttl) {
  std::vector<PeerRecord*> dead;
  for (auto& [index, r] : by_index_) {
    if (now - r->last_rx >= ttl) {
      dead.push_back(r.get());
    }
  }
  for (PeerRecord* r : dead) {
    remove(*r);
  }
  return dead.size();
}

void Registry::forEach(const std::function<void(PeerRecord&)>& fn) {
  for (auto& [index, r] : by_index_) {
    fn(*r);
  }
}

void Registry::forEach(const std::function<void(const PeerRecord&)>& fn) const {
  for (const auto& [index, r] : by_index_) {
    fn(*r);
  }
}

}  // namespace vpn::rendezvous
