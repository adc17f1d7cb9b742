#pragma once
// DatagramSink: where session machinery puts the datagrams it wants sent. The peer's EngineSink
// and the rendezvous' sink both extend it.
//
// Contract: called synchronously on the engine's thread; `bytes` are valid only during the call
// (the sink copies what it keeps); the sink must not call back into the caller and must not throw.
#include <cstdint>
#include <span>

#include "protocol/ip_address.hpp"

namespace vpn::session {

class DatagramSink {
 public:
  virtual ~DatagramSink() = default;
  virtual void sendDatagram(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) = 0;
};

}  // namespace vpn::session
