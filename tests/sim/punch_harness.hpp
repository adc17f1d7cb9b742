#pragma once
// PunchWorld: peers behind simulated NATs, the real RendezvousEngine on a public address, all on
// one SimNetwork and a virtual clock. Used by the punch_* simulations.
//
// Addresses: the rendezvous at 203.0.113.1:7000 (UDP) and 203.0.113.1:443 (TCP, accepted always;
// peers use it only if their RendezvousSpec names it); NAT i has public address 198.51.100.i and
// private net 10.0.i.0/24 (hosts .2, .3, ...); peers without a NAT live at 192.0.2.x.
// Every peer's UDP port is 51820. Overlay addresses are 10.42.0.x.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/engine/engine.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "tests/fakes/sim_network.hpp"
#include "tests/fakes/simulated_nat.hpp"
#include "tests/fakes/test_pki.hpp"

namespace vpn::test {

protocol::Endpoint parseEp(const char* text);

// Issues a certificate with the rendezvous role from the TestPki's CA.
std::unique_ptr<crypto::TlsContext> makeRendezvousContext(TestPki& pki, const std::string& name);

class RendezvousHost : public SimHost, public rendezvous::RendezvousSink {
 public:
  RendezvousHost(SimNetwork& net, protocol::Endpoint ep, crypto::TlsContext& tls,
                 std::optional<protocol::Endpoint> tcp = std::nullopt,
                 rendezvous::RendezvousOptions options = {});
  ~RendezvousHost() override;

  // Down: removed from the network (datagrams to it vanish) and its state is lost.
  void stop();
  // Up again with a fresh engine (a restart: every registration is gone).
  void start();
  // Options for the next start().
  rendezvous::RendezvousOptions& options() { return options_; }
  bool up() const { return engine_ != nullptr; }
  rendezvous::RendezvousEngine& engine() { return *engine_; }
  const protocol::Endpoint& endpoint() const { return ep_; }
  const std::optional<protocol::Endpoint>& tcpEndpoint() const { return tcp_; }
  client::RendezvousSpec spec() const { return {ep_, tcp_, std::nullopt}; }
  // Dual stack: a second UDP socket (listen index 1) at an address of the other family.
  void addOtherFamily(const protocol::Endpoint& ep);
  const std::optional<protocol::Endpoint>& otherFamily() const { return ep_other_; }

  void onDatagram(Instant now, const protocol::Endpoint& from,
                  std::span<std::uint8_t> bytes) override;
  void onTimer(Instant now) override;
  Instant nextDeadline() const override;
  void onTcpDatagram(Instant now, const protocol::Endpoint& from,
                     std::span<std::uint8_t> bytes) override;
  void onTcpClosed(Instant now, const protocol::Endpoint& remote) override;
  void sendFrom(rendezvous::SocketId from, const protocol::Endpoint& to,
                std::span<const std::uint8_t> bytes) override;

 private:
  SimNetwork& net_;
  protocol::Endpoint ep_;
  std::optional<protocol::Endpoint> ep_other_;
  std::optional<protocol::Endpoint> tcp_;
  rendezvous::RendezvousOptions options_;
  crypto::TlsContext& tls_;
  // TCP connections by the engine's connection id (never reused).
  std::map<std::uint32_t, protocol::Endpoint> conns_;
  std::uint32_t next_conn_ = 1;
  std::unique_ptr<rendezvous::RendezvousEngine> engine_;
};

struct PunchPeer {
  std::string name;
  std::string overlay;  // "10.42.0.x"
  SimNode* node = nullptr;
  std::unique_ptr<crypto::TlsContext> tls;
  client::EngineOptions options;
};

class PunchWorld {
 public:
  explicit PunchWorld(std::uint64_t seed = 1);
  ~PunchWorld();

  // A NAT numbered i (1..): public 198.51.100.i, private 10.0.i.0/24.
  SimulatedNat& addNat(NatType type, int i);
  // A peer at `private_ep` (behind a NAT if the address is in one's private net). It knows every
  // other peer added (by name, no endpoint) unless `peers` is given.
  PunchPeer& addPeer(const std::string& name, const std::string& overlay,
                     const protocol::Endpoint& at);
  // Configures every peer to know every other peer (no endpoints) and starts them all.
  void startAll();
  void start(PunchPeer& p);

  client::PeerStatus peerStatus(PunchPeer& at, const std::string& name);
  bool established(PunchPeer& a, PunchPeer& b);
  bool waitEstablished(PunchPeer& a, PunchPeer& b, Duration limit);
  // One inner packet each way; true if both arrive byte-exact.
  bool dataFlows(PunchPeer& a, PunchPeer& b, std::uint64_t tag = 7);
  bool registered(PunchPeer& p);
  // Every peer's view of every other peer and of the rendezvous, for failure messages.
  std::string describe();

  FakeClock clock;
  SimNetwork net;
  NatFabric fabric;
  Instant t0;  // when the world was made (for event times in describe())
  TestPki pki;
  std::unique_ptr<crypto::TlsContext> rv_tls;
  std::unique_ptr<RendezvousHost> rv;
  std::vector<std::unique_ptr<PunchPeer>> peers;
};

}  // namespace vpn::test
