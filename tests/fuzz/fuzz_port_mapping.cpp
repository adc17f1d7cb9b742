// Port mapping: the PCP and NAT-PMP answer parsers on raw bytes, and the PortMapper driven by an
// input read as a program (answers from the router, time passing, UPnP results, restarts and
// stops). Invariants: a "mapped" state always holds an external endpoint peers can reach, the
// timer never points into the past, and the state is one of the four documented.
#include <array>
#include <optional>
#include <string>

#include "client/portmap/port_mapper.hpp"
#include "protocol/nat_pmp.hpp"
#include "protocol/pcp.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using namespace vpn;

struct NullSink : client::PortMapper::Sink {
  std::size_t sent = 0;
  void sendToGateway(const protocol::Endpoint&, std::span<const std::uint8_t> d) override {
    FUZZ_CHECK(!d.empty() && d.size() <= protocol::kPcpMapSize);
    ++sent;
  }
  void requestUpnp(std::uint16_t, std::uint32_t) override {}
  void onMappingChanged(const std::optional<protocol::Endpoint>& e) override {
    FUZZ_CHECK(!e || e->port() != 0);
  }
};

void checkStatus(const client::PortMapper& m, Instant now) {
  const auto& s = m.status();
  FUZZ_CHECK(s.state == "off" || s.state == "searching" || s.state == "mapped" ||
             s.state == "unavailable");
  if (s.state == "mapped") {
    FUZZ_CHECK(s.external.has_value() && s.external->port() != 0);
    FUZZ_CHECK(s.external->address().isRoutableUnicast());
  }
  FUZZ_CHECK(m.nextDeadline() == kNever || m.nextDeadline() > now - seconds(1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  std::span<const std::uint8_t> all(data, size);
  protocol::PcpMapResponse pcp;
  (void)protocol::parsePcpMapResponse(all, pcp);
  protocol::NatPmpResponse pmp;
  (void)protocol::parseNatPmpResponse(all, pmp);

  NullSink sink;
  protocol::PcpNonce nonce{};  // all zero: answers in the input can match it
  client::PortMapper mapper(sink, {}, [&] { return nonce; });
  const auto gateway = *protocol::IpAddress::parse("192.168.1.1");
  const protocol::Endpoint from(gateway, protocol::kPcpServerPort);
  Instant now = Instant{} + seconds(100);
  mapper.start(now, gateway, *protocol::IpAddress::parse("192.168.1.7"), 51820);
  for (int step = 0; step < 64 && !in.empty(); ++step) {
    switch (in.byte() % 5) {
      case 0:
      case 1:
        (void)mapper.onDatagram(now, from, in.chunk(protocol::kPcpMaxSize + 8));
        break;
      case 2:
        now += milliseconds(in.u16()) * 64;
        mapper.onTimer(now);
        break;
      case 3: {
        auto b = in.take(6);
        std::optional<protocol::Endpoint> ext;
        if (b.size() == 6) {
          ext = protocol::Endpoint(protocol::IpAddress::v4(b.data()),
                                   static_cast<std::uint16_t>((b[4] << 8) | b[5]));
        }
        mapper.onUpnpResult(now, ext, in.u16(), "fuzz");
        break;
      }
      default:
        if (in.byte() & 1) {
          mapper.stop(now);
        } else {
          mapper.start(now, gateway, *protocol::IpAddress::parse("192.168.1.7"), 51820);
        }
        break;
    }
    checkStatus(mapper, now);
  }
  return 0;
}
