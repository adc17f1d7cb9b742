#pragma once
// Registry: the rendezvous' established peer sessions, found by our receiver index, by certified
// name, by certified overlay address and by path (the socket and source endpoint of the newest
// authenticated packet: how a relay packet's sender is recognised). A record is soft state: it
// lives while its peer sends authenticated packets and is expired after a silence (expire()). At
// most one record per name: inserting a newer session for a name removes the older one (the peer
// restarted). Removing a record also unbinds its relay channels from its partners.
//
// A record is kept small on purpose (the server holds one per peer on the network): indices,
// endpoint, compact data keys (key bytes sealed through the engine's shared AeadScratch, a small
// replay window: session::CompactDataKeys), the lingering handshake only for its first seconds,
// the registration, a lookup and a relay token bucket, and a relay channel table that is empty
// for most peers. Ownership: the Registry owns its records; pointers stay valid until the record
// is removed. Single-threaded; never throws except std::bad_alloc.
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
#include "protocol/nat_type.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "session/data_keys.hpp"
#include "session/handshake.hpp"

namespace vpn::rendezvous {

// A token bucket in 16 bytes, for per-record limits (session::RateLimiter is per address).
struct TokenBucket {
  double tokens = -1;  // < 0 before first use: starts full
  Instant updated{};
  // Takes `cost` tokens. A cost above the burst is allowed from a full bucket (which it empties),
  // so a burst smaller than one datagram slows a sender instead of blocking it for good.
  bool take(Instant now, double per_second, double burst, double cost = 1);
};

// One relay channel of a record: the channel number (the same in the partner's table), the
// partner's local index, and this record's side of the consent: whether it asked for the channel
// (RELAY_REQUEST), with which request id, and when it last asked or sent on it. A channel
// forwards only when both sides asked. Tables are sorted by channel.
struct RelayChannel {
  std::uint16_t channel = 0;
  bool asked = false;
  std::uint32_t partner = 0;
  std::uint32_t request_id = 0;
  Instant last_used{};
};

struct PeerRecord {
  std::string name;
  std::uint32_t local_index = 0;   // the peer puts this in its packets to us
  std::uint32_t remote_index = 0;  // we put this in ours
  SocketId socket;                 // where the peer talks to us; replies leave from it
  protocol::Endpoint endpoint;     // the reflexive endpoint: the source of its newest packet
  // Its TCP connection closed: nothing is sent to it until a packet moves it (Registry::setPath).
  bool unreachable = false;
  protocol::NatType nat_type = protocol::NatType::kUnknown;
  std::unique_ptr<session::CompactDataKeys> keys;
  std::unique_ptr<session::Handshake> linger;
  Instant linger_until = kNever;
  Instant established_at{};
  Instant last_rx{};
  std::optional<Instant> registered_at;
  std::vector<protocol::IpPrefix> addresses;    // from the certificate
  std::string cert_fingerprint;                 // SHA-256 of the certificate (blocklist)
  Instant cert_expires_at = kNever;             // the session ends then
  std::vector<protocol::Candidate> candidates;  // local and tcp ones, from REGISTER
  // The reflexive endpoint of the other IP family, from the newest ALSO_HERE (a dual-stack peer);
  // introduced while alt_seen is recent. Never a path: replies go to `endpoint`.
  std::optional<protocol::Endpoint> alt_endpoint;
  Instant alt_seen{};
  // The newest port reading from its LOOKUPs (its NAT allocates in sequence), passed on in
  // INTRODUCE while recent (RendezvousEngine::Impl::introduce).
  std::optional<protocol::PortReading> reading;
  Instant reading_at{};
  // The newest HELLO_VIA: the first handshake packet of its attempt with the peer named `to`,
  // passed on whenever the two are introduced while it is fresh (rv_hello.cpp). Held only while
  // the peer connects (a few seconds), so most records have none.
  struct ViaHello {
    std::string to;
    std::vector<std::uint8_t> bytes;
    Instant at{};
  };
  std::unique_ptr<ViaHello> via_hello;
  std::vector<RelayChannel> channels;           // sorted by channel
  TokenBucket lookups;                          // lookups and relay requests
  TokenBucket relay;                            // bytes of relay datagrams it sends
  TokenBucket relay_rx;                         // ... and that are sent to it
  std::uint64_t relayed_bytes = 0;              // relay datagrams from it that we forwarded

  bool registered() const { return registered_at.has_value(); }
  bool overTcp() const { return socket.role == SocketRole::kTcp; }
  // The partner on `channel`, or 0.
  std::uint32_t partnerOn(std::uint16_t channel) const;
  // The channel joining this record to `partner`, or 0.
  std::uint16_t channelTo(std::uint32_t partner) const;
  // This record's entry for `channel`, or nullptr.
  RelayChannel* entryOn(std::uint16_t channel);
  bool channelInUse(std::uint16_t channel) const { return partnerOn(channel) != 0; }
};

class Registry {
 public:
  // Adds a record (its name, indices, addresses and path set). Returns the record and whether an
  // older record of the same name was removed.
  std::pair<PeerRecord*, bool> insert(std::unique_ptr<PeerRecord> record);
  void remove(PeerRecord& record);

  PeerRecord* byIndex(std::uint32_t local_index);
  PeerRecord* byName(std::string_view name);
  PeerRecord* byAddress(const protocol::IpAddress& address);
  // The record whose newest authenticated packet came from `from` on `socket` (nullptr if none,
  // or if its connection closed). Two records on one path: the one that spoke from it last.
  PeerRecord* byPath(SocketId socket, const protocol::Endpoint& from);
  bool indexInUse(std::uint32_t index) const { return by_index_.count(index) != 0; }

  // Records that an authenticated packet of `record` came from this path: moves it there (and
  // makes it reachable again), or claims the path back from another record that moved onto it.
  void setPath(PeerRecord& record, SocketId socket, const protocol::Endpoint& endpoint);
  // Marks every record on TCP connection `conn` unreachable and forgets their path. Returns how
  // many there were.
  std::size_t closeConnection(std::uint32_t conn);
  bool onConnection(std::uint32_t conn) const { return by_conn_.count(conn) != 0; }

  // Joins two records on `channel` (nonzero, free in both tables).
  void bind(PeerRecord& a, PeerRecord& b, std::uint16_t channel);
  // Removes `channel` from `a` and its partner. Returns false if `a` has no such channel.
  bool unbind(PeerRecord& a, std::uint16_t channel);

  // Removes every record without an authenticated packet for `ttl`; returns how many.
  std::size_t expire(Instant now, Duration ttl);
  // Calls fn(PeerRecord&) for every record, in no particular order. fn must not insert or remove.
  void forEach(const std::function<void(PeerRecord&)>& fn);
  void forEach(const std::function<void(const PeerRecord&)>& fn) const;
  std::size_t size() const { return by_index_.size(); }

 private:
  struct PathKey {
    SocketId socket;
    protocol::Endpoint endpoint;
    friend bool operator==(const PathKey&, const PathKey&) = default;
  };
  struct PathKeyHash {
    std::size_t operator()(const PathKey& k) const noexcept;
  };
  void indexPath(PeerRecord& r);
  void unindexPath(PeerRecord& r);
  void unbindAll(PeerRecord& r);

  std::unordered_map<std::uint32_t, std::unique_ptr<PeerRecord>> by_index_;
  // Keys view the record's own name, so a name is stored once.
  std::unordered_map<std::string_view, PeerRecord*> by_name_;
  std::unordered_map<protocol::IpAddress, PeerRecord*, protocol::IpAddressHash> by_address_;
  std::unordered_map<PathKey, PeerRecord*, PathKeyHash> by_path_;
  // TCP records only: connection id -> records on it (normally one).
  std::unordered_multimap<std::uint32_t, PeerRecord*> by_conn_;
};

}  // namespace vpn::rendezvous
