#pragma once
// RendezvousAddresses: turns the peer file's [[rendezvous]] entries (host names or addresses, a
// UDP port and an optional TCP one) into the resolved RendezvousSpecs the engine needs. Entries
// are resolved at start and again whenever their server is not answering, because the name may
// point elsewhere now. A TCP address with the same host as the UDP one reuses its address; TLS
// entries are announced through on_tls so the TCP edge wraps connections to them. A name with
// addresses of both families (and a dual-stack listen socket) gives the spec an alternate of the
// other family; a server not established by the next refresh is then tried the other way round.
//
// Ownership: owned by the daemon; borrows the resolver, which must outlive it. Threading: the
// loop's thread only. Errors: resolution failures are logged (one line naming the entry) and the
// entry is tried again at the next refresh().
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/engine/engine.hpp"
#include "config/peer_config.hpp"
#include "net/resolver.hpp"

namespace vpn::client {

class RendezvousAddresses {
 public:
  using Reachable = std::function<bool(const protocol::IpAddress&)>;
  using OnChange = std::function<void(std::vector<RendezvousSpec>)>;
  using OnTls = std::function<void(const protocol::Endpoint&, const std::string& server_name)>;

  RendezvousAddresses(net::Resolver& resolver, std::vector<config::RendezvousEntry> entries,
                      Reachable reachable, OnChange on_change, OnTls on_tls);

  // Resolves the entries not resolved yet, and those whose server `status` does not show as
  // established.
  void refresh(const EngineStatus& status);
  // A reload's list: entries equal to a current one keep their resolved addresses (their
  // sessions keep running), the list is published at once, and refresh() resolves the new ones.
  // Lookups still under way for the old list are ignored when they finish.
  void setEntries(std::vector<config::RendezvousEntry> entries);
  // The entries whose host is an address literal, as their resolution will publish them but
  // without the TCP address (its TLS set-up comes with that publication): the daemon starts
  // these before the resolver has run, to save its start-up time. Calls nothing.
  std::vector<RendezvousSpec> literals() const;

 private:
  void onResolved(std::size_t i, std::vector<protocol::Endpoint> eps, const std::string& error);
  void onTcpResolved(std::size_t i, std::vector<protocol::Endpoint> eps, const std::string& error);
  // Wraps a lookup's callback so that it is dropped if setEntries() ran meanwhile.
  net::Resolver::Callback current(std::size_t i, bool tcp);
  void setTcp(std::size_t i, const protocol::Endpoint& ep);
  void publish();

  net::Resolver& resolver_;
  std::vector<config::RendezvousEntry> entries_;
  Reachable reachable_;
  OnChange on_change_;
  OnTls on_tls_;
  std::vector<std::optional<RendezvousSpec>> resolved_;  // per entry
  std::vector<bool> flip_;  // per entry: its other family first (the first did not connect)
  std::uint64_t generation_ = 0;                         // setEntries() calls so far
};

}  // namespace vpn::client
