#pragma once
// SimNetwork: an in-process UDP network for Engines on a FakeClock. Each Node is an EngineSink
// with an Endpoint; datagrams a node sends go through a NoisyLink and are delivered to the node
// owning the destination endpoint at their virtual arrival time. run*() advance the clock to the
// earliest of the next delivery and every engine's nextDeadline(), so nothing ever sleeps.
//
// TCP is modelled as connections that carry datagrams reliably and in order (the link's delay,
// no loss): sendTcp() to an endpoint registered with listenTcp() opens a connection at once; the
// acceptor sees it from the client's apparent endpoint (on_tcp_connect lets a NAT choose it).
// sendTcp() to anything else, or over a connection that was closed, reports onTcpClosed() to
// the sender after the link delay. Closing one end reports it to the other.
//
// Tests may cut links, tap every datagram sent, inject datagrams, and replace a node's engine (a
// peer restart). Not thread-safe. A node must outlive nothing: the network owns the nodes.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "client/engine/engine.hpp"
#include "session/aead_batch.hpp"
#include "tests/fakes/fake_clock.hpp"
#include "tests/fakes/noisy_link.hpp"

namespace vpn::test {

class SimNetwork;

struct Datagram {
  protocol::Endpoint from;
  protocol::Endpoint to;
  std::vector<std::uint8_t> bytes;
  bool tcp = false;  // framed on a TCP connection (not seen by on_route / on_deliver)
};

class SimNode : public client::EngineSink {
 public:
  // SIM_SEAL_BATCHES=N in the environment: every node seals in batches on N threads (runs any
  // simulation through the daemon's batch sealing; datagrams still arrive one at a time, so
  // batch opening is covered by EngineSim.BatchOpening... only).
  SimNode(SimNetwork& net, protocol::Endpoint ep);

  void sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  // Passes SimNetwork::max_datagram (the network fragments it); counted in fragmentable_sent.
  void sendFragmentable(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  void sendTcp(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) override;
  void closeTcp(const protocol::Endpoint& to) override;
  // Prediction sockets: socket k is at the node's address with port 20000 + k.
  std::vector<std::uint16_t> openPredictionSockets(std::size_t count,
                                                   protocol::IpAddress::Family family) override;
  void closePredictionSocket(std::uint16_t local) override { prediction_.erase(local); }
  void sendDatagramVia(std::uint16_t local, const protocol::Endpoint& to,
                       std::span<const std::uint8_t> bytes) override;
  // The prediction socket at `ep`, if one is open there.
  std::optional<std::uint16_t> predictionSocketAt(const protocol::Endpoint& ep) const;
  std::size_t predictionSocketsOpen() const { return prediction_.size(); }
  std::size_t predictionSocketsEverOpened() const { return next_local_ - 1u; }
  void writeTun(std::span<const std::uint8_t> packet) override {
    tun.emplace_back(packet.begin(), packet.end());
  }

  const protocol::Endpoint& endpoint() const { return endpoint_; }
  // A dual-stack host: a second address of the other family on the same socket. Datagrams to
  // that family leave from it, and datagrams to it arrive here.
  void addOtherFamily(const protocol::Endpoint& ep) { other_family_ = ep; }
  const std::optional<protocol::Endpoint>& otherFamily() const { return other_family_; }
  bool isAt(const protocol::Endpoint& ep) const { return ep == endpoint_ || ep == other_family_; }
  // The source address for a datagram to `to`.
  const protocol::Endpoint& sourceFor(const protocol::Endpoint& to) const {
    return other_family_ && to.address().family() == other_family_->address().family()
               ? *other_family_
               : endpoint_;
  }
  // The host moves (a new address): its TCP connections break. The engine is not told; call
  // Engine::onNetworkChange() for that.
  void moveTo(const protocol::Endpoint& ep);
  client::Engine& engine() { return *engine_; }
  bool hasEngine() const { return engine_ != nullptr; }
  // Creates (or replaces: a restart) the engine of this node and starts it.
  void startEngine(crypto::TlsContext& tls, client::EngineOptions options);
  void stopEngine() { engine_.reset(); }
  // Hands an inner packet to the engine as the TUN reader would (with head- and tailroom).
  void sendTun(std::span<const std::uint8_t> inner);
  // From now on seal as the daemon does: packets of one sendTunBatch (or sendTun: a batch of
  // one) are handed over by the engine (sendSealLater), sealed together by a session::AeadBatch
  // of `lanes` threads, then sent in order.
  void sealInBatches(std::size_t lanes);
  // Several inner packets as one TUN read (sealed together in batch mode).
  void sendTunBatch(const std::vector<std::vector<std::uint8_t>>& inners);
  const session::AeadBatch* sealBatch() const { return aead_batch_.get(); }
  bool sealsLater() const override { return in_batch_ && aead_batch_ != nullptr; }
  void sendSealLater(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes,
                     const client::DeferredSeal& seal) override;
  void completeSeals() override;
  client::EngineStatus status() const;

  std::vector<std::vector<std::uint8_t>> tun;  // packets the engine wrote to its TUN
  std::uint64_t fragmentable_sent = 0;

 private:
  SimNetwork& net_;
  protocol::Endpoint endpoint_;
  std::optional<protocol::Endpoint> other_family_;
  std::map<std::uint16_t, protocol::Endpoint> prediction_;
  std::uint16_t next_local_ = 1;
  std::unique_ptr<client::Engine> engine_;
  // Batch mode: datagrams handed over, in order, waiting for their seal.
  std::unique_ptr<session::AeadBatch> aead_batch_;
  bool in_batch_ = false;
  struct Held {
    protocol::Endpoint to;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Held> held_;
};

// Something on the network that is not a peer engine (e.g. a rendezvous server): it receives the
// datagrams addressed to its endpoint and has a timer. It sends through SimNetwork::sendFrom().
class SimHost {
 public:
  virtual ~SimHost() = default;
  virtual void onDatagram(Instant now, const protocol::Endpoint& from,
                          std::span<std::uint8_t> bytes) = 0;
  virtual void onTimer(Instant now) = 0;
  virtual Instant nextDeadline() const = 0;
  // TCP (hosts registered with listenTcp()): one datagram from the connection with `from`, and
  // the end of that connection. Default: ignored.
  virtual void onTcpDatagram(Instant now, const protocol::Endpoint& from,
                             std::span<std::uint8_t> bytes) {
    (void)now, (void)from, (void)bytes;
  }
  virtual void onTcpClosed(Instant now, const protocol::Endpoint& remote) { (void)now, (void)remote; }
};

class SimNetwork {
 public:
  SimNetwork(FakeClock& clock, std::uint64_t seed) : clock_(clock), link_(seed) {}

  SimNode& addNode(const protocol::Endpoint& ep);
  FakeClock& clock() { return clock_; }
  NoisyLink& noise() { return link_; }

  void setLink(const LinkConfig& cfg) { default_link_ = cfg; }
  void setLink(const protocol::Endpoint& from, const protocol::Endpoint& to, const LinkConfig& cfg) {
    links_[{from, to}] = cfg;
  }
  // Cut both directions between a and b (true) or restore them.
  void cut(const protocol::Endpoint& a, const protocol::Endpoint& b, bool cut);
  // Cut only datagrams from `from` to `to` (addresses as on the wire, after any NAT).
  void cutOneWay(const protocol::Endpoint& from, const protocol::Endpoint& to, bool is_cut) {
    if (is_cut) {
      cuts_.insert({from, to});
    } else {
      cuts_.erase({from, to});
    }
  }
  // A path MTU black hole: UDP datagrams (payload) larger than this vanish unless sent
  // fragmentable. 0: no limit.
  std::size_t max_datagram = 0;
  // Called for every datagram a node sends, before the link decides its fate.
  std::function<void(const Datagram&)> on_send;
  // Middleboxes (see simulated_nat.hpp): on_route sees every sent datagram after on_send and may
  // rewrite its addresses or drop it (false); on_deliver does the same at its arrival time.
  std::function<bool(Datagram&)> on_route;
  std::function<bool(Datagram&)> on_deliver;
  // Registers a non-engine host at `ep` (borrowed; must outlive the network or be removed).
  void addHost(const protocol::Endpoint& ep, SimHost* host) { hosts_[ep] = host; }
  void removeHost(const protocol::Endpoint& ep) { hosts_.erase(ep); }
  // Sends as the node or host at `from` would (through on_send, on_route, cuts and the link).
  void sendFrom(const protocol::Endpoint& from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) {
    send(from, to, false, bytes);
  }
  // TCP: `ep` accepts connections; they are delivered to the node or host at `owner` (default:
  // `ep` itself, e.g. a host registered there).
  void listenTcp(const protocol::Endpoint& ep) { tcp_listeners_[ep] = ep; }
  void listenTcp(const protocol::Endpoint& ep, const protocol::Endpoint& owner) {
    tcp_listeners_[ep] = owner;
  }
  void unlistenTcp(const protocol::Endpoint& ep) { tcp_listeners_.erase(ep); }
  // One datagram on the connection between `from` and `to` (opened if `from` is a client and
  // `to` listens); a host sends through this too.
  void sendTcpFrom(const protocol::Endpoint& from, const protocol::Endpoint& to,
                   std::span<const std::uint8_t> bytes);
  // `from` closes its connection with `to`; the other end is told.
  void closeTcpFrom(const protocol::Endpoint& from, const protocol::Endpoint& to);
  // Resets every connection with an end at `ep` (both ends are told).
  void resetTcp(const protocol::Endpoint& ep);
  // Chooses the apparent source of a new connection from `from` (a NAT); default: `from`.
  std::function<protocol::Endpoint(const protocol::Endpoint&)> on_tcp_connect;
  // False blocks a new connection (a firewall). Default: allowed.
  std::function<bool(const protocol::Endpoint& from, const protocol::Endpoint& to)> on_tcp_allow;
  std::size_t tcpConnections() const { return tcp_.size(); }
  std::uint64_t tcpDelivered() const { return tcp_delivered_; }

  // Delivers bytes to `to` as if sent by `from`, after `delay` (no link noise).
  void inject(const protocol::Endpoint& from, const protocol::Endpoint& to,
              std::vector<std::uint8_t> bytes, Duration delay = Duration::zero());

  // Runs the simulation until the clock reaches now + d.
  void runFor(Duration d);
  // Runs until pred() holds (checked after every step) or `limit` of virtual time passes.
  bool runUntil(const std::function<bool()>& pred, Duration limit);

  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t sent() const { return sent_; }

 private:
  friend class SimNode;
  struct InFlight {
    Instant at;
    std::uint64_t seq;
    Datagram d;
    bool closed = false;  // tcp: "the connection with d.from closed" for d.to
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  struct TcpConn {
    protocol::Endpoint client;    // the connecting host's own endpoint
    protocol::Endpoint apparent;  // what the acceptor sees
    protocol::Endpoint server;    // the listener
    protocol::Endpoint owner;     // the node or host that owns the listener
    Instant last_at{};            // keeps deliveries in order
  };
  void deliver(Instant now, const InFlight& f);
  void tcpNotify(const protocol::Endpoint& to, const protocol::Endpoint& remote);
  void tcpQueue(TcpConn& c, const protocol::Endpoint& from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes);
  void send(const protocol::Endpoint& from, const protocol::Endpoint& to, bool fragmentable,
            std::span<const std::uint8_t> bytes);
  // One step: advance to the next event (not past `limit`), deliver and fire timers. False when
  // the next event lies beyond the limit.
  bool step(Instant limit);
  Instant nextEvent() const;

  FakeClock& clock_;
  NoisyLink link_;
  LinkConfig default_link_;
  std::map<std::pair<protocol::Endpoint, protocol::Endpoint>, LinkConfig> links_;
  std::set<std::pair<protocol::Endpoint, protocol::Endpoint>> cuts_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::map<protocol::Endpoint, SimHost*> hosts_;
  std::map<protocol::Endpoint, protocol::Endpoint> tcp_listeners_;  // listener -> owner
  std::vector<TcpConn> tcp_;
  std::uint64_t tcp_delivered_ = 0;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t stalled_steps_ = 0;
};

}  // namespace vpn::test
