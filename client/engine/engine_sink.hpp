#pragma once
// EngineSink: where the I/O-free engine puts its output. The daemon implements it over a UDP
// socket and a TUN device; tests implement it over an in-process network.
//
// Contract: called synchronously from inside Engine calls on the engine's thread. `bytes` and
// `packet` are valid only during the call; the sink copies what it keeps. The sink must not call
// back into the engine. It must not throw.
#include <cstdint>
#include <span>

#include "protocol/ip_address.hpp"
#include "session/datagram_sink.hpp"

namespace vpn::client {

class EngineSink : public session::DatagramSink {
 public:
  // sendDatagram (from DatagramSink): bytes are valid only during the call
  virtual void writeTun(std::span<const std::uint8_t> packet) = 0;
};

}  // namespace vpn::client
