#pragma once
// RvHarness: one RendezvousEngine and any number of RvTestPeers in one process, on a FakeClock.
// Each peer has an observed (post-NAT) endpoint and the engine socket it reaches (a UDP primary,
// or a TCP connection: SocketRole::kTcp with a conn id); pump() moves datagrams both ways until
// the network is quiet, and run() also fires timers while advancing the clock. Relay packets
// (0x78) a node receives are kept raw in Node::relayed.
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "protocol/packet_type.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "tests/fakes/fake_clock.hpp"
#include "tests/fakes/test_pki.hpp"
#include "tests/unit/rendezvous/rv_test_peer.hpp"

namespace vpn::test {

struct SentDatagram {
  rendezvous::SocketId from;
  protocol::Endpoint to;
  std::vector<std::uint8_t> bytes;
};

class CollectingRvSink final : public rendezvous::RendezvousSink {
 public:
  void sendFrom(rendezvous::SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override {
    sent.push_back(SentDatagram{from, to, {bytes.begin(), bytes.end()}});
  }
  std::deque<SentDatagram> sent;
};

// Issues a rendezvous-role certificate from a TestPki's CA (TestPki itself only issues peers).
inline std::unique_ptr<crypto::TlsContext> makeRendezvousContext(TestPki& pki,
                                                                 const std::string& name,
                                                                 bool rendezvous_role = true) {
  crypto::SignOptions opts;
  opts.name = name;
  opts.rendezvous_role = rendezvous_role;
  auto out = pki.dir() / ("rv-" + name + (rendezvous_role ? "-r" : "-p"));
  crypto::signCertificate(pki.dir() / "ca", opts, out);
  crypto::TlsContextOptions ctx;
  ctx.ca_cert = (pki.dir() / "ca.crt").string();
  ctx.cert = out.string() + ".crt";
  ctx.key = out.string() + ".key";
  return crypto::TlsContext::create(ctx);
}

class RvHarness {
 public:
  static constexpr const char* kRvName = "rv1";

  explicit RvHarness(rendezvous::RendezvousOptions options = {}) {
    rv_tls = makeRendezvousContext(pki, kRvName);
    engine = std::make_unique<rendezvous::RendezvousEngine>(*rv_tls, std::move(options), sink);
  }

  struct Node {
    std::unique_ptr<crypto::TlsContext> tls;
    std::unique_ptr<RvTestPeer> peer;
    protocol::Endpoint observed;  // the source address the rendezvous sees
    rendezvous::SocketId socket;  // where its datagrams reach the engine
    std::vector<rendezvous::SocketId> arrived_from;
    std::vector<std::vector<std::uint8_t>> relayed;  // relay packets received, as sent
  };

  // A peer whose certificate says `cert_name` and whose HELLO says `hello_name`.
  Node& addPeer(const std::string& cert_name, std::vector<std::string> addresses,
                protocol::Endpoint observed, std::string hello_name = {}) {
    auto n = std::make_unique<Node>();
    n->tls = pki.makeContext(cert_name, addresses);
    n->peer = std::make_unique<RvTestPeer>(*n->tls, hello_name.empty() ? cert_name : hello_name,
                                           kRvName, rv_endpoint);
    n->observed = observed;
    nodes.push_back(std::move(n));
    return *nodes.back();
  }
  Node& addPeerWithContext(std::unique_ptr<crypto::TlsContext> tls, const std::string& name,
                           protocol::Endpoint observed) {
    auto n = std::make_unique<Node>();
    n->tls = std::move(tls);
    n->peer = std::make_unique<RvTestPeer>(*n->tls, name, kRvName, rv_endpoint);
    n->observed = observed;
    nodes.push_back(std::move(n));
    return *nodes.back();
  }

  // A DatagramSink for one node: what it sends reaches the engine from its observed endpoint.
  class NodeSink final : public session::DatagramSink {
   public:
    NodeSink(RvHarness& h, Node& n) : h_(h), n_(n) {}
    void sendDatagram(const protocol::Endpoint&, std::span<const std::uint8_t> bytes) override {
      h_.to_engine.push_back({n_.observed, {bytes.begin(), bytes.end()}});
    }

   private:
    RvHarness& h_;
    Node& n_;
  };

  void start(Node& n) {
    NodeSink s(*this, n);
    n.peer->start(clock.now(), s);
    pump();
  }

  // Delivers everything in flight until quiet. Returns the number of datagrams moved.
  std::size_t pump() {
    std::size_t moved = 0;
    for (int guard = 0; guard < 10000 && (!to_engine.empty() || !sink.sent.empty()); ++guard) {
      while (!to_engine.empty()) {
        auto [from, bytes] = std::move(to_engine.front());
        to_engine.pop_front();
        engine->onDatagram(clock.now(), socketOf(from), from, bytes);
        ++moved;
      }
      while (!sink.sent.empty()) {
        SentDatagram d = std::move(sink.sent.front());
        sink.sent.pop_front();
        ++moved;
        if (d.from.role == rendezvous::SocketRole::kTcp && closed_conns.count(d.from.conn) != 0) {
          ++sent_on_closed;  // what a server does with a gone connection: nothing
          continue;
        }
        for (auto& n : nodes) {
          // A TCP connection reaches only its own node; UDP goes by address.
          bool tcp = d.from.role == rendezvous::SocketRole::kTcp;
          bool reaches = tcp ? n->socket == d.from
                             : n->observed == d.to &&
                                   n->socket.role != rendezvous::SocketRole::kTcp;
          if (!reaches) {
            continue;
          }
          n->arrived_from.push_back(d.from);
          if (protocol::classify(d.bytes) == protocol::PacketFamily::kRelay) {
            n->relayed.push_back(d.bytes);
            continue;
          }
          NodeSink s(*this, *n);
          n->peer->onDatagram(clock.now(), d.bytes, s);
        }
      }
    }
    return moved;
  }

  // Advances the clock in steps, firing the engine's and the peers' timers.
  void run(Duration total, Duration step = milliseconds(100)) {
    Instant end = clock.now() + total;
    while (clock.now() < end) {
      clock.advance(step);
      if (engine->nextDeadline() <= clock.now()) {
        engine->onTimer(clock.now());
      }
      for (auto& n : nodes) {
        if (n->peer->nextDeadline() <= clock.now()) {
          NodeSink s(*this, *n);
          n->peer->onTimer(clock.now(), s);
        }
      }
      pump();
    }
  }

  // The engine socket a datagram from `from` arrives on: its node's (a primary if none).
  rendezvous::SocketId socketOf(const protocol::Endpoint& from) const {
    for (const auto& n : nodes) {
      if (n->observed == from) {
        return n->socket;
      }
    }
    return rendezvous::SocketId{};
  }

  // A node's TCP connection ends: the engine is told, later sends on it are dropped.
  void closeConnection(Node& n) {
    closed_conns.insert(n.socket.conn);
    engine->onConnectionClosed(clock.now(), n.socket.conn);
  }

  // Raw bytes from a node (e.g. a relay packet), then pump.
  void sendRaw(Node& n, std::vector<std::uint8_t> bytes) {
    to_engine.push_back({n.observed, std::move(bytes)});
    pump();
  }

  template <typename Fn>
  void send(Node& n, Fn&& fn) {
    NodeSink s(*this, n);
    fn(*n.peer, s);
    pump();
  }

  std::uint64_t dropCount(const std::string& reason) {
    for (const auto& [r, c] : engine->status(clock.now(), false).drops) {
      if (r == reason) {
        return c;
      }
    }
    return 0;
  }

  FakeClock clock;
  TestPki pki;
  std::unique_ptr<crypto::TlsContext> rv_tls;
  CollectingRvSink sink;
  std::unique_ptr<rendezvous::RendezvousEngine> engine;
  protocol::Endpoint rv_endpoint = *protocol::Endpoint::parse("203.0.113.1:3478");
  std::deque<std::pair<protocol::Endpoint, std::vector<std::uint8_t>>> to_engine;
  std::vector<std::unique_ptr<Node>> nodes;
  std::set<std::uint32_t> closed_conns;
  std::size_t sent_on_closed = 0;
};

template <typename T>
const T* lastOf(const std::vector<protocol::ControlMessage>& inbox) {
  for (auto it = inbox.rbegin(); it != inbox.rend(); ++it) {
    if (const T* m = std::get_if<T>(&*it)) {
      return m;
    }
  }
  return nullptr;
}

}  // namespace vpn::test
