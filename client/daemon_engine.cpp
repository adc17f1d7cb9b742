// The engine and the edges it sends through (prediction sockets, TCP links), made right after
// the UDP socket; and the first flights, sent before the rest of the start-up.
#include "base/log.hpp"
#include "client/daemon_impl.hpp"

namespace vpn::client {

void Daemon::Impl::createEngine(std::optional<crypto::NetworkKey> network_key) {
  tls->setBlocklist(cfg.blocklist);
  EngineOptions eopts = engineOptions(cfg);
  if (network_key) {
    // STUN to the rendezvous is sealed too; the probe's own copy of the seal does it.
    stun_seal = std::make_unique<session::OuterSeal>(*network_key);
    LOG_INFO("network key: %s, fingerprint %s",
             network_key->source() == crypto::NetworkKey::Source::kCa
                 ? "derived from the CA certificate"
                 : cfg.network_key->file.string().c_str(),
             network_key->fingerprint().c_str());
  }
  eopts.network_key = std::move(network_key);
  prediction = std::make_unique<PredictionSockets>(
      loop, [this](std::uint16_t local, const protocol::Endpoint& from, std::span<std::uint8_t> d) {
        if (!stopping) {
          engine->onDatagram(Clock::now(), from, d, Transport::kUdp, local);
          afterEvent();
        }
      });
  engine = std::make_unique<Engine>(*tls, std::move(eopts), *this);
  tcp = std::make_unique<TcpLinks>(
      loop,
      [this](const protocol::Endpoint& from, std::span<std::uint8_t> d) {
        if (!stopping) {
          engine->onDatagram(Clock::now(), from, d, Transport::kTcp);  // afterEvent: batch end
        }
      },
      [this](const protocol::Endpoint& remote, const std::string& reason) {
        if (!stopping) {
          engine->onTcpClosed(Clock::now(), remote, reason);
          afterEvent();
        }
      },
      [this](const protocol::Endpoint& remote) { return engine->usesTcp(remote); });
  tcp->setOnBatchEnd([this] { afterEvent(); });  // once per loop iteration with TCP datagrams
  if (cfg.tcp_listen) {
    try {
      tcp->listen(udp->localEndpoint());
    } catch (const net::NetError& e) {
      throw StartupError(e.what());
    }
  }
}

// Before the TUN device, the user lookup, the privilege drop and the worker threads, which take
// milliseconds (bench/setup_time.sh): the ClientHellos to address-literal rendezvous and to peers
// at fixed endpoints leave first. Nothing is received until the loop runs, after the drop, so no
// input is handled with root's privileges. The resolver only starts its threads when used.
void Daemon::Impl::sendFirstFlights() {
  resolver = std::make_unique<net::Resolver>(loop);
  rendezvous_addresses = std::make_unique<RendezvousAddresses>(
      *resolver, cfg.rendezvous, [this](const protocol::IpAddress& a) { return usable(a); },
      [this](std::vector<RendezvousSpec> specs) { onRendezvousResolved(std::move(specs)); },
      [this](const protocol::Endpoint& ep, const std::string& sni) { tcp->setTls(ep, sni); });
  Instant now = Clock::now();
  engine->start(now);
  engine->setRendezvous(now, rendezvous_addresses->literals());
  udp->flush();
}

}  // namespace vpn::client
