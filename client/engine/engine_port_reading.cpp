// Port readings (port_reading_state.hpp, docs/paths.md rule 14): behind a NAT that allocates in
// sequence, with port prediction on, every LOOKUP carries a fresh reading of the NAT's next port.
// A lookup that finds none waits for one (at most kReadingTries x kReadingRto), then goes without.
#include <algorithm>

#include "base/log.hpp"
#include "client/engine/engine_impl.hpp"
#include "crypto/random.hpp"

namespace vpn::client {

bool Engine::Impl::sequentialNat() const {
  return options.port_prediction && port_stride != 0 &&
         nat_type == protocol::NatType::kSymmetric &&
         (!options.udp_family || *options.udp_family == protocol::IpAddress::Family::kV4);
}

bool Engine::Impl::freshReading(Instant now) const {
  return port_reading.value && now - port_reading.at < kReadingFresh;
}

bool Engine::Impl::wantReading(Instant now) const {
  return sequentialNat() && !freshReading(now) &&
         (port_reading.failed_at == Instant{} || now - port_reading.failed_at >= kReadingPause);
}

void Engine::Impl::setPortStride(Instant now, std::uint8_t stride) {
  (void)now;
  port_stride = stride <= protocol::kMaxPortStride ? stride : 0;
  if (port_reading.value) {
    port_reading.value->stride = port_stride;
  }
}

void Engine::Impl::requestPortReading(Instant now) {
  if (port_reading.local != 0) {
    return;  // one in flight serves every waiting lookup
  }
  // Any rendezvous reached over UDP on IPv4 will do: the reading is the mapping, not the server.
  auto it = std::find_if(rendezvous.begin(), rendezvous.end(), [](const auto& rv) {
    return rv->session && rv->transport == Transport::kUdp && rv->udp().address().isV4();
  });
  std::vector<std::uint16_t> opened;
  if (it != rendezvous.end()) {
    opened = sink.openPredictionSockets(1, protocol::IpAddress::Family::kV4);
  }
  if (opened.empty()) {
    port_reading.failed_at = now;
    port_reading.failed++;
    finishPortReading(now);
    return;
  }
  port_reading.local = opened.front();
  port_reading.server = (*it)->udp();
  crypto::randomBytes(port_reading.txid);
  port_reading.sent = 0;
  port_reading.next_send = now;
  servicePortReading(now);
}

void Engine::Impl::servicePortReading(Instant now) {
  PortReadingState& r = port_reading;
  if (r.local == 0 || now < r.next_send) {
    return;
  }
  if (r.sent >= kReadingTries) {
    LOG_INFO("port prediction: no answer to the port reading from %s; lookups go without one",
             r.server.toString().c_str());
    r.failed_at = now;
    r.failed++;
    finishPortReading(now);
    return;
  }
  protocol::BindingRequestParams params;
  params.transaction_id = r.txid;
  params.pad_to = protocol::kStunPaddedRequestSize;  // the server answers no more than it got
  std::array<std::uint8_t, protocol::kStunPaddedRequestSize> buf{};
  std::size_t n = protocol::buildBindingRequest(params, buf);
  sendOnPath(Path{Transport::kUdp, r.server, 0, r.local},
             std::span<const std::uint8_t>(buf.data(), n));  // sealed there with a network key
  r.sent++;
  r.next_send = now + kReadingRto;
}

bool Engine::Impl::onStunAnswer(Instant now, const Path& from,
                                std::span<const std::uint8_t> bytes) {
  PortReadingState& r = port_reading;
  if (r.local == 0 || from.local != r.local || !(from.endpoint == r.server)) {
    return false;
  }
  auto msg = protocol::parseStun(bytes);
  if (!msg || msg->transaction_id != r.txid ||
      msg->messageClass() != protocol::StunClass::kSuccess || !msg->reflexive() ||
      msg->reflexive()->port() == 0) {
    return false;
  }
  r.value = protocol::PortReading{msg->reflexive()->port(), port_stride};
  r.at = now;
  r.taken++;
  finishPortReading(now);
  return true;
}

void Engine::Impl::finishPortReading(Instant now) {
  if (port_reading.local != 0) {
    sink.closePredictionSocket(port_reading.local);
    port_reading.local = 0;
  }
  port_reading.next_send = kNever;
  for (auto& p : peers) {
    if (p->await_reading) {
      p->await_reading = false;
      p->lookup_at = now;
    }
  }
}

}  // namespace vpn::client
