#include "rendezvous/engine/registry.hpp"

#include <algorithm>

namespace vpn::rendezvous {

bool TokenBucket::take(Instant now, double per_second, double burst) {
  if (tokens < 0) {
    tokens = burst;
  } else if (now > updated) {
    tokens = std::min(burst, tokens + toSeconds(now - updated) * per_second);
  }
  updated = now;
  if (tokens < 1) {
    return false;
  }
  tokens -= 1;
  return true;
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
  return {r, replaced};
}

void Registry::remove(PeerRecord& record) {
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
