#pragma once
// Registry: the rendezvous' established peer sessions, found by our receiver index, by certified
// name and by certified overlay address. A record is soft state: it lives while its peer sends
// authenticated packets and is expired after a silence (expire()). At most one record per name:
// inserting a newer session for a name removes the older one (the peer restarted).
//
// A record is kept small on purpose (the server holds one per peer on the network): indices,
// endpoint, compact data keys (key bytes sealed through the engine's shared AeadScratch, a small
// replay window: session::CompactDataKeys), the lingering handshake only for its first seconds,
// the registration and a lookup token bucket. Ownership: the Registry owns its records; pointers stay valid until the
// record is removed. Single-threaded; never throws except std::bad_alloc.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/time.hpp"
#include "protocol/candidate.hpp"
#include "protocol/ip_address.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "session/data_keys.hpp"
#include "session/handshake.hpp"

namespace vpn::rendezvous {

// A token bucket in 16 bytes, for per-record limits (session::RateLimiter is per address).
struct TokenBucket {
  double tokens = -1;  // < 0: not used yet, starts full
  Instant updated{};
  bool take(Instant now, double per_second, double burst);
};

struct PeerRecord {
  std::string name;
  std::uint32_t local_index = 0;   // the peer puts this in its packets to us
  std::uint32_t remote_index = 0;  // we put this in ours
  SocketId socket;                 // where the peer talks to us; replies leave from it
  protocol::Endpoint endpoint;     // the reflexive endpoint: the source of its newest packet
  std::unique_ptr<session::CompactDataKeys> keys;
  std::unique_ptr<session::Handshake> linger;
  Instant linger_until = kNever;
  Instant established_at{};
  Instant last_rx{};
  std::optional<Instant> registered_at;
  std::vector<protocol::IpPrefix> addresses;    // from the certificate
  std::vector<protocol::Candidate> candidates;  // local ones, from REGISTER
  TokenBucket lookups;

  bool registered() const { return registered_at.has_value(); }
};

class Registry {
 public:
  // Adds a record (its name, indices and addresses set). Returns the record and whether an older
  // record of the same name was removed.
  std::pair<PeerRecord*, bool> insert(std::unique_ptr<PeerRecord> record);
  void remove(PeerRecord& record);

  PeerRecord* byIndex(std::uint32_t local_index);
  PeerRecord* byName(std::string_view name);
  PeerRecord* byAddress(const protocol::IpAddress& address);
  bool indexInUse(std::uint32_t index) const { return by_index_.count(index) != 0; }

  // Removes every record without an authenticated packet for `ttl`; returns how many.
  std::size_t expire(Instant now, Duration ttl);
  // Calls fn(PeerRecord&) for every record, in no particular order. fn must not insert or remove.
  void forEach(const std::function<void(PeerRecord&)>& fn);
  void forEach(const std::function<void(const PeerRecord&)>& fn) const;
  std::size_t size() const { return by_index_.size(); }

 private:
  std::unordered_map<std::uint32_t, std::unique_ptr<PeerRecord>> by_index_;
  // Keys view the record's own name, so a name is stored once.
  std::unordered_map<std::string_view, PeerRecord*> by_name_;
  std::unordered_map<protocol::IpAddress, PeerRecord*, protocol::IpAddressHash> by_address_;
};

}  // namespace vpn::rendezvous
