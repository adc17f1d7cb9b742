// The handshake's reliability layer: a stream of handshake packets (each length-prefixed, with a
// time step) into one ReliableChannel that also has stream bytes of its own to send, polled after
// each packet, as a Handshake drives it. Invariants: what it delivers is never more than what the
// packets carried, and polling always ends.
#include <vector>

#include "protocol/handshake_packet.hpp"
#include "session/reliable_channel.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  fuzz::FuzzInput f(data, size);
  session::ReliableChannel ch;
  std::vector<std::uint8_t> own(f.byte() * 37u, 0x5A);
  (void)ch.send(own);
  Instant now{};
  std::size_t carried = 0, delivered = 0;
  for (int i = 0; i < 256 && !f.empty(); ++i) {
    now += milliseconds(f.byte());
    auto bytes = f.chunk(protocol::kMaxHandshakePacket);
    auto p = protocol::parseHandshake(bytes);
    if (p.ok()) {
      carried += p->payload.size();
      (void)ch.onPacket(now, *p);
      delivered += ch.delivered().size();
      ch.consumeDelivered();
    }
    session::ReliableChannel::Outgoing out;
    int polls = 0;
    while (ch.poll(now, out)) {
      FUZZ_CHECK(++polls <= 4096);
    }
    if ((f.byte() & 7) == 0) {
      ch.retransmitNow(now);
    }
  }
  FUZZ_CHECK(delivered <= carried);
  return 0;
}
