#pragma once
// PortReadingState: the engine's reading of its NAT's port counter, for port prediction between
// two NATs that allocate public ports in sequence (docs/paths.md rule 14). A reading is one STUN
// Binding request from a fresh prediction socket to a rendezvous: the public port that new
// mapping gets is where the counter stands now. It is taken just before a LOOKUP that carries it,
// so the peer can aim at the ports our NAT hands out next. State only; engine_port_reading.cpp
// drives it. Owned by Engine::Impl, single-threaded like the engine.
#include <cstdint>
#include <optional>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "protocol/stun.hpp"

namespace vpn::client {

// A reading older than this is not sent: the NAT's other users move its counter.
inline constexpr Duration kReadingFresh = seconds(5);
// Answer wait per request, requests per reading, and the pause after a reading got no answer.
inline constexpr Duration kReadingRto = milliseconds(300);
inline constexpr int kReadingTries = 3;
inline constexpr Duration kReadingPause = seconds(30);

struct PortReadingState {
  std::uint16_t local = 0;  // the prediction socket of the reading in flight; 0: none
  protocol::StunTransactionId txid{};
  protocol::Endpoint server;  // the rendezvous it asks
  int sent = 0;
  Instant next_send = kNever;
  std::optional<protocol::PortReading> value;  // the newest reading
  Instant at{};                                // when it was taken
  Instant failed_at{};                         // the newest attempt that got no answer
  std::uint64_t taken = 0;
  std::uint64_t failed = 0;
};

}  // namespace vpn::client
