#pragma once
// Helpers for the relay tests: registered peers on an RvHarness, a pair joined by a channel both
// asked for, and relay packets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/relay_packet.hpp"
#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test::relay {

using protocol::Candidate;
using protocol::CandidateKind;
using protocol::Endpoint;
using protocol::RelayBoundMsg;
using protocol::RelayFailedMsg;
using protocol::RelayFailure;
using rendezvous::SocketId;
using rendezvous::SocketRole;

Endpoint ep(const char* text);
Candidate local(const char* text);
// A relay packet on `channel` whose inner datagram starts with `first` and has `inner_size` bytes
// in all (a recognisable pattern after the first byte).
std::vector<std::uint8_t> relayPacket(std::uint16_t channel, std::uint8_t first,
                                      std::size_t inner_size, std::uint8_t fill = 0);
// A relay packet carrying a padded HELLO handshake packet that names `name`.
std::vector<std::uint8_t> relayedHello(std::uint16_t channel, const char* name);
// One datagram straight into the engine from anywhere (no node behind it).
void inject(RvHarness& h, SocketId on, const Endpoint& from, std::vector<std::uint8_t> bytes);
RvHarness::Node& addRegistered(RvHarness& h, const std::string& name, const char* observed,
                               std::vector<Candidate> cands = {},
                               protocol::NatType nat = protocol::NatType::kUnknown,
                               SocketId socket = {});

struct Pair {
  RvHarness::Node* alice;
  RvHarness::Node* bob;
  std::uint16_t channel = 0;
};

// alice and bob registered over UDP and joined by a channel alice asked for and bob consented to
// (he asked too, after the server's offer).
Pair boundPair(RvHarness& h);
const rendezvous::RegisteredPeerStatus* peerStatus(const rendezvous::RendezvousStatus& st,
                                                    const std::string& name);

}  // namespace vpn::test::relay
