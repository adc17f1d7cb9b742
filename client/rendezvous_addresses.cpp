#include "client/rendezvous_addresses.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace vpn::client {

RendezvousAddresses::RendezvousAddresses(net::Resolver& resolver,
                                         std::vector<config::RendezvousEntry> entries,
                                         Reachable reachable, OnChange on_change, OnTls on_tls)
    : resolver_(resolver),
      entries_(std::move(entries)),
      reachable_(std::move(reachable)),
      on_change_(std::move(on_change)),
      on_tls_(std::move(on_tls)),
      resolved_(entries_.size()),
      flip_(entries_.size(), false) {}

void RendezvousAddresses::refresh(const EngineStatus& status) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& resolved = resolved_[i];
    bool healthy = false;
    for (const auto& r : status.rendezvous) {
      healthy = healthy || (resolved && r.endpoint == resolved->udp && r.state == "established");
    }
    if (healthy) {
      continue;
    }
    if (resolved && resolved->udp_alt) {
      // Not established since the last refresh over this family: try the other one first.
      flip_[i] = !flip_[i];
    }
    const auto& e = entries_[i];
    resolver_.resolve(e.host, e.port, current(i, false));
  }
}

net::Resolver::Callback RendezvousAddresses::current(std::size_t i, bool tcp) {
  return [this, i, tcp, gen = generation_](std::vector<protocol::Endpoint> eps,
                                           const std::string& error) {
    if (gen != generation_) {
      return;  // for a list a reload has replaced
    }
    if (tcp) {
      onTcpResolved(i, std::move(eps), error);
    } else {
      onResolved(i, std::move(eps), error);
    }
  };
}

void RendezvousAddresses::setEntries(std::vector<config::RendezvousEntry> entries) {
  std::vector<std::optional<RendezvousSpec>> kept(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    for (std::size_t j = 0; j < entries_.size(); ++j) {
      const auto& r = resolved_[j];
      // Only complete ones: a TCP address still being looked up would never arrive.
      if (entries_[j] == entries[i] && r && (r->tcp || !entries[i].tcp_host)) {
        kept[i] = r;
        break;
      }
    }
  }
  entries_ = std::move(entries);
  resolved_ = std::move(kept);
  flip_.assign(entries_.size(), false);
  ++generation_;
  publish();
}

std::vector<RendezvousSpec> RendezvousAddresses::literals() const {
  std::vector<RendezvousSpec> out;
  for (const auto& e : entries_) {
    auto a = protocol::IpAddress::parse(e.host);
    if (!a || !reachable_(*a)) {
      continue;
    }
    protocol::Endpoint ep(*a, e.port);
    if (std::none_of(out.begin(), out.end(), [&](const RendezvousSpec& s) { return s.udp == ep; })) {
      out.push_back(RendezvousSpec{ep, std::nullopt, e.name, std::nullopt});
    }
  }
  return out;
}

void RendezvousAddresses::onResolved(std::size_t i, std::vector<protocol::Endpoint> eps,
                                     const std::string& error) {
  const auto& entry = entries_[i];
  // The resolver's order (RFC 6724: IPv6 first where the host has a global IPv6 address), and
  // the first reachable address of the other family as the dual-stack alternate.
  std::optional<protocol::Endpoint> pick;
  std::optional<protocol::Endpoint> alt;
  for (const auto& e : eps) {
    if (!reachable_(e.address())) {
      continue;
    }
    if (!pick) {
      pick = e;
    } else if (!alt && e.address().family() != pick->address().family()) {
      alt = e;
    }
  }
  if (alt && flip_[i]) {
    std::swap(pick, alt);
  }
  if (!pick) {
    LOG_WARN("rendezvous %s: %s", entry.toString().c_str(),
             error.empty() ? "no address of a family the listen socket can reach" : error.c_str());
    return;
  }
  if (resolved_[i] && resolved_[i]->udp == *pick && resolved_[i]->udp_alt == alt) {
    return;
  }
  LOG_INFO("rendezvous %s is %s%s", entry.toString().c_str(), pick->toString().c_str(),
           alt ? (", and " + alt->toString() + " for our other IP family").c_str() : "");
  resolved_[i] = RendezvousSpec{*pick, std::nullopt, entry.name, alt};
  if (entry.tcp_host) {
    if (*entry.tcp_host == entry.host) {
      setTcp(i, protocol::Endpoint(pick->address(), entry.tcp_port));
    } else {
      resolver_.resolve(*entry.tcp_host, entry.tcp_port, current(i, true));
    }
  }
  publish();
}

void RendezvousAddresses::onTcpResolved(std::size_t i, std::vector<protocol::Endpoint> eps,
                                        const std::string& error) {
  if (eps.empty()) {
    LOG_WARN("rendezvous %s (TCP): %s", entries_[i].tcpToString().c_str(),
             error.empty() ? "no address" : error.c_str());
    return;
  }
  setTcp(i, eps.front());
  publish();
}

void RendezvousAddresses::setTcp(std::size_t i, const protocol::Endpoint& ep) {
  if (!resolved_[i]) {
    return;
  }
  resolved_[i]->tcp = ep;
  const auto& entry = entries_[i];
  if (entry.tls) {
    // SNI only for names: an IP address in SNI is not allowed (RFC 6066 section 3).
    bool is_name = !protocol::IpAddress::parse(*entry.tcp_host).has_value();
    on_tls_(ep, is_name ? *entry.tcp_host : std::string());
  }
}

void RendezvousAddresses::publish() {
  std::vector<RendezvousSpec> all;
  for (const auto& r : resolved_) {
    if (!r) {
      continue;
    }
    auto same = [&](const RendezvousSpec& s) { return s.udp == r->udp; };
    if (std::find_if(all.begin(), all.end(), same) == all.end()) {
      all.push_back(*r);
    }
  }
  on_change_(std::move(all));
}

}  // namespace vpn::client
