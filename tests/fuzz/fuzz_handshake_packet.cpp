// Handshake packets and cookie replies. Round trip: a packet that parses serializes (with its
// own acks) to bytes that parse to the same fields.
#include <vector>

#include "protocol/handshake_packet.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  std::span<const std::uint8_t> in(data, size);
  (void)protocol::parseCookieReply(in);
  auto p = protocol::parseHandshake(in);
  if (!p.ok()) {
    return 0;
  }
  std::vector<std::uint32_t> acks;
  for (std::size_t i = 0; i < p->ackCount(); ++i) {
    acks.push_back(p->ack(i));
  }
  protocol::HandshakePacket copy = *p;
  std::vector<std::uint8_t> out(protocol::kMaxHandshakePacket + 64);
  std::size_t n = protocol::serializeHandshake(copy, acks, out);
  if (n == 0) {
    return 0;  // parseable but not something we would send (e.g. over our own limits)
  }
  auto again = protocol::parseHandshake(std::span<const std::uint8_t>(out.data(), n));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->flags == p->flags && again->sender_index == p->sender_index &&
             again->receiver_index == p->receiver_index && again->ackCount() == p->ackCount());
  FUZZ_CHECK(again->name == p->name);
  FUZZ_CHECK(std::equal(again->payload.begin(), again->payload.end(), p->payload.begin(),
                        p->payload.end()));
  return 0;
}
