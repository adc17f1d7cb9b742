// The rendezvous engine, whole: datagrams on every socket role and TCP connection, from a few
// sources and from strangers, timers, closed connections, and its own answers fed back with a
// byte changed. Each input gets a fresh engine on a fixed clock; it must never crash or throw.
#include <vector>

#include "base/log.hpp"

#include "crypto/certificate.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "tests/fuzz/engine_harness.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using namespace vpn;

struct Sink final : rendezvous::RendezvousSink {
  fuzz::SentRing sent;
  void sendFrom(rendezvous::SocketId, const protocol::Endpoint&,
                std::span<const std::uint8_t> b) override {
    sent.add(b);
  }
};

crypto::TlsContext& context() {
  static std::unique_ptr<crypto::TlsContext> ctx = [] {
    crypto::SignOptions opts;
    opts.name = "rv1";
    opts.rendezvous_role = true;
    auto out = fuzz::pki().dir() / "rv1";
    crypto::signCertificate(fuzz::pki().dir() / "ca", opts, out);
    crypto::TlsContextOptions c;
    c.ca_cert = fuzz::pki().caCert().string();
    c.cert = out.string() + ".crt";
    c.key = out.string() + ".key";
    return crypto::TlsContext::create(c);
  }();
  return *ctx;
}

rendezvous::RendezvousOptions options() {
  rendezvous::RendezvousOptions o;
  o.listen = {*protocol::Endpoint::parse("203.0.113.1:3478")};
  o.alt_port = 3479;
  o.alt_address = *protocol::IpAddress::parse("203.0.113.2");
  return o;
}

rendezvous::SocketId socket(fuzz::FuzzInput& f) {
  std::uint8_t b = f.byte();
  rendezvous::SocketId s;
  s.role = static_cast<rendezvous::SocketRole>(b % 5);
  if (s.role == rendezvous::SocketRole::kTcp) {
    s.conn = 1u + (b >> 4);
  }
  return s;
}

protocol::Endpoint from(fuzz::FuzzInput& f) {
  std::uint8_t b = f.byte();
  if (b < 192) {
    return protocol::Endpoint(protocol::IpAddress::v4(0xC0000200u | (b & 7)), 51820);
  }
  return protocol::Endpoint(protocol::IpAddress::v4(0xC6336400u | f.byte()), f.u16());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A fresh engine per input repeats its "reported once" warnings: printing them would cost
  // more than the input itself.
  vpn::log::setLevel(vpn::log::Level::kError);
  (void)context();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput f(data, size);
  Sink sink;
  rendezvous::RendezvousEngine engine(context(), options(), sink);
  Instant now = fuzz::origin();
  std::vector<std::uint8_t> buf;
  for (int step = 0; step < 64 && !f.empty(); ++step) {
    switch (f.byte() % 4) {
      case 0: {
        auto s = socket(f);
        auto src = from(f);
        auto bytes = f.chunk(1500);
        buf.assign(bytes.begin(), bytes.end());
        engine.onDatagram(now, s, src, buf);
        break;
      }
      case 1: {
        buf = sink.sent.get(f.byte());
        if (!buf.empty()) {
          std::size_t at = f.u16() % buf.size();
          buf[at] = static_cast<std::uint8_t>(buf[at] ^ f.byte());
        }
        auto s = socket(f);
        engine.onDatagram(now, s, from(f), buf);
        break;
      }
      case 2:
        now += milliseconds(f.u16());
        engine.onTimer(now);
        break;
      default:
        engine.onConnectionClosed(now, 1u + (f.byte() >> 4));
        break;
    }
  }
  (void)engine.status(now, true);
  return 0;
}
