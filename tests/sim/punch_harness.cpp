#include "tests/sim/punch_harness.hpp"

#include "crypto/certificate.hpp"
#include "tests/fakes/inner_packets.hpp"

namespace vpn::test {

protocol::Endpoint parseEp(const char* text) { return *protocol::Endpoint::parse(text); }

std::unique_ptr<crypto::TlsContext> makeRendezvousContext(TestPki& pki, const std::string& name) {
  crypto::SignOptions opts;
  opts.name = name;
  opts.rendezvous_role = true;
  auto out = pki.dir() / (name + "-rv");
  crypto::signCertificate(pki.dir() / "ca", opts, out);
  crypto::TlsContextOptions ctx;
  ctx.ca_cert = (pki.dir() / "ca.crt").string();
  ctx.cert = out.string() + ".crt";
  ctx.key = out.string() + ".key";
  return crypto::TlsContext::create(ctx);
}

RendezvousHost::RendezvousHost(SimNetwork& net, protocol::Endpoint ep, crypto::TlsContext& tls,
                               std::optional<protocol::Endpoint> tcp,
                               rendezvous::RendezvousOptions options)
    : net_(net), ep_(ep), tcp_(tcp), options_(std::move(options)), tls_(tls) {
  start();
}

void RendezvousHost::addOtherFamily(const protocol::Endpoint& ep) {
  ep_other_ = ep;
  net_.addHost(ep, this);
}

RendezvousHost::~RendezvousHost() {
  net_.removeHost(ep_);
  if (ep_other_) {
    net_.removeHost(*ep_other_);
  }
  if (tcp_) {
    net_.removeHost(*tcp_);
    net_.unlistenTcp(*tcp_);
  }
}

void RendezvousHost::stop() {
  net_.removeHost(ep_);
  if (ep_other_) {
    net_.removeHost(*ep_other_);
  }
  if (tcp_) {
    net_.unlistenTcp(*tcp_);
    net_.resetTcp(*tcp_);
    net_.removeHost(*tcp_);
  }
  conns_.clear();
  engine_.reset();
}

void RendezvousHost::start() {
  engine_ = std::make_unique<rendezvous::RendezvousEngine>(tls_, options_, *this);
  net_.addHost(ep_, this);
  if (ep_other_) {
    net_.addHost(*ep_other_, this);
  }
  if (tcp_) {
    net_.addHost(*tcp_, this);
    net_.listenTcp(*tcp_);
  }
}

void RendezvousHost::onTcpDatagram(Instant now, const protocol::Endpoint& from,
                                   std::span<std::uint8_t> bytes) {
  if (!engine_) {
    return;
  }
  std::uint32_t id = 0;
  for (const auto& [cid, remote] : conns_) {
    if (remote == from) {
      id = cid;
    }
  }
  if (id == 0) {
    id = next_conn_++;
    conns_[id] = from;
  }
  engine_->onDatagram(now, rendezvous::SocketId{rendezvous::SocketRole::kTcp, 0, id}, from, bytes);
}

void RendezvousHost::onTcpClosed(Instant now, const protocol::Endpoint& remote) {
  for (auto it = conns_.begin(); it != conns_.end(); ++it) {
    if (it->second == remote) {
      std::uint32_t id = it->first;
      conns_.erase(it);
      if (engine_) {
        engine_->onConnectionClosed(now, id);
      }
      return;
    }
  }
}

void RendezvousHost::onDatagram(Instant now, const protocol::Endpoint& from,
                                std::span<std::uint8_t> bytes) {
  if (engine_) {
    rendezvous::SocketId on;
    if (ep_other_ && from.address().family() == ep_other_->address().family()) {
      on.listen = 1;  // arrived at the other family's socket
    }
    engine_->onDatagram(now, on, from, bytes);
  }
}

void RendezvousHost::onTimer(Instant now) {
  if (engine_) {
    engine_->onTimer(now);
  }
}

Instant RendezvousHost::nextDeadline() const { return engine_ ? engine_->nextDeadline() : kNever; }

void RendezvousHost::sendFrom(rendezvous::SocketId from, const protocol::Endpoint& to,
                              std::span<const std::uint8_t> bytes) {
  if (from.role == rendezvous::SocketRole::kTcp) {
    auto it = conns_.find(from.conn);
    if (it != conns_.end() && tcp_) {
      net_.sendTcpFrom(*tcp_, it->second, bytes);
    }
    return;
  }
  net_.sendFrom(from.listen == 1 && ep_other_ ? *ep_other_ : ep_, to, bytes);
}

PunchWorld::PunchWorld(std::uint64_t seed) : net(clock, seed), fabric(net), t0(clock.now()) {
  rv_tls = makeRendezvousContext(pki, "rendezvous");
  rv = std::make_unique<RendezvousHost>(net, parseEp("203.0.113.1:7000"), *rv_tls,
                                        parseEp("203.0.113.1:443"));
}

PunchWorld::~PunchWorld() {
  rv.reset();
  for (auto& p : peers) {
    p->node->stopEngine();
  }
}

SimulatedNat& PunchWorld::addNat(NatType type, int i) {
  auto pub = protocol::IpAddress::parse("198.51.100." + std::to_string(i));
  auto net_prefix = protocol::IpPrefix::parse("10.0." + std::to_string(i) + ".0/24");
  return fabric.add(natConfig(type, std::string(toString(type)) + std::to_string(i), *pub,
                              *net_prefix));
}

PunchPeer& PunchWorld::addPeer(const std::string& name, const std::string& overlay,
                               const protocol::Endpoint& at) {
  auto p = std::make_unique<PunchPeer>();
  p->name = name;
  p->overlay = overlay;
  p->node = &net.addNode(at);
  p->tls = pki.makeContext(name, {overlay + "/24"});
  p->options.own_name = name;
  p->options.rendezvous = {client::RendezvousSpec{rv->endpoint(), std::nullopt, std::nullopt}};
  peers.push_back(std::move(p));
  return *peers.back();
}

void PunchWorld::start(PunchPeer& p) {
  p.node->startEngine(*p.tls, p.options);
  p.node->engine().setLocalCandidates(clock.now(), {p.node->endpoint()});
}

void PunchWorld::startAll() {
  for (auto& p : peers) {
    if (p->options.peers.empty()) {
      for (auto& q : peers) {
        if (q != p) {
          p->options.peers.push_back({q->name, std::nullopt});
        }
      }
    }
  }
  for (auto& p : peers) {
    start(*p);
  }
}

client::PeerStatus PunchWorld::peerStatus(PunchPeer& at, const std::string& name) {
  auto st = at.node->status();
  const client::PeerStatus* p = st.peer(name);
  return p != nullptr ? *p : client::PeerStatus{};
}

bool PunchWorld::established(PunchPeer& a, PunchPeer& b) {
  return peerStatus(a, b.name).state == "established" &&
         peerStatus(b, a.name).state == "established";
}

bool PunchWorld::waitEstablished(PunchPeer& a, PunchPeer& b, Duration limit) {
  return net.runUntil([&] { return established(a, b); }, limit);
}

bool PunchWorld::registered(PunchPeer& p) {
  auto st = p.node->status();
  for (const auto& r : st.rendezvous) {
    if (r.registered) {
      return true;
    }
  }
  return false;
}

std::string PunchWorld::describe() {
  std::string out;
  for (auto& p : peers) {
    auto st = p->node->status();
    out += p->name + " @" + p->node->endpoint().toString() + ":\n";
    for (const auto& r : st.rendezvous) {
      out += "  rendezvous " + r.endpoint.toString() + " " + r.state +
             (r.registered ? " registered" : "") +
             (r.reflexive ? " reflexive=" + r.reflexive->toString() : "") +
             (r.last_error.empty() ? "" : " error=" + r.last_error) + "\n";
    }
    for (const auto& q : st.peers) {
      out += "  peer " + q.name + " " + q.state + " " + q.path +
             (q.endpoint ? " ep=" + q.endpoint->toString() : "") +
             " handshakes=" + std::to_string(q.handshakes) + " relay=" + q.relay_state +
             (q.relay_channel != 0 ? "/" + std::to_string(q.relay_channel) : "") +
             (q.last_error.empty() ? "" : " error=" + q.last_error) + "\n";
      if (!q.path_reason.empty()) {
        out += "    why: " + q.path_reason + "\n";
      }
      for (const auto& e : q.history) {
        out += "    event +" + std::to_string(toSeconds(e.at - t0)) + "s " + e.from + " -> " +
               e.to + ": " + e.reason + "\n";
      }
      for (const auto& c : q.candidates) {
        out += "    " + c.endpoint.toString() + " " + c.kind + " " + c.state +
               " probes=" + std::to_string(c.probes_sent) + " replies=" + std::to_string(c.replies) +
               "\n";
      }
    }
    out += "  drops:";
    for (const auto& [reason, n] : st.drops) {
      if (n != 0) {
        out += " " + reason + "=" + std::to_string(n);
      }
    }
    out += "\n";
  }
  return out;
}

bool PunchWorld::dataFlows(PunchPeer& a, PunchPeer& b, std::uint64_t tag) {
  auto pa = makeIpv4(a.overlay.c_str(), b.overlay.c_str(), numberedPayload(tag));
  auto pb = makeIpv4(b.overlay.c_str(), a.overlay.c_str(), numberedPayload(tag + 1));
  a.node->tun.clear();
  b.node->tun.clear();
  a.node->sendTun(pa);
  b.node->sendTun(pb);
  bool arrived = net.runUntil([&] { return !a.node->tun.empty() && !b.node->tun.empty(); },
                              seconds(5));
  return arrived && a.node->tun.size() == 1 && b.node->tun.size() == 1 && b.node->tun[0] == pa &&
         a.node->tun[0] == pb;
}

}  // namespace vpn::test
