// The peer's engine, whole: datagrams from the configured peer, the rendezvous, strangers and TCP
// connections, TUN packets, timers and network changes on a fixed clock, and datagrams the engine
// itself sent, fed back with a byte changed (so the fuzzer reaches past the first parsers into
// cookies, handshakes and punching). Each input gets a fresh engine; the TLS contexts are made
// once. The engine must never crash or throw, whatever it is fed.
#include <vector>

#include "base/log.hpp"

#include "client/engine/engine.hpp"
#include "protocol/data_packet.hpp"
#include "tests/fuzz/engine_harness.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using namespace vpn;

struct Sink final : client::EngineSink {
  fuzz::SentRing sent;
  void sendDatagram(const protocol::Endpoint&, std::span<const std::uint8_t> b) override {
    sent.add(b);
  }
  void writeTun(std::span<const std::uint8_t>) override {}
  void sendTcp(const protocol::Endpoint&, std::span<const std::uint8_t> b) override { sent.add(b); }
};

const protocol::Endpoint kAlice = *protocol::Endpoint::parse("192.0.2.1:51820");
const protocol::Endpoint kRv = *protocol::Endpoint::parse("203.0.113.1:3478");
const protocol::Endpoint kRvTcp = *protocol::Endpoint::parse("203.0.113.1:443");

crypto::TlsContext& context() {
  static auto ctx = fuzz::pki().makeContext("bob", {"10.42.0.2/24", "fd42::2/64"});
  return *ctx;
}

client::EngineOptions options() {
  client::EngineOptions o;
  o.own_name = "bob";
  o.peers = {{"alice", kAlice}, {"carol", std::nullopt}};
  o.rendezvous = {{kRv, kRvTcp, std::nullopt}};
  return o;
}

protocol::Endpoint from(fuzz::FuzzInput& f) {
  switch (f.byte() % 4) {
    case 0:
      return kAlice;
    case 1:
      return kRv;
    case 2:
      return kRvTcp;
    default:
      return protocol::Endpoint(protocol::IpAddress::v4(0xC6336400u | f.byte()), f.u16());
  }
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
  client::Engine engine(context(), options(), sink);
  Instant now = fuzz::origin();
  engine.start(now);
  std::vector<std::uint8_t> buf;
  for (int step = 0; step < 64 && !f.empty(); ++step) {
    switch (f.byte() % 6) {
      case 0: {  // a datagram from the input
        auto src = from(f);
        auto bytes = f.chunk(1500);
        buf.assign(bytes.begin(), bytes.end());
        auto t = (f.byte() & 1) ? client::Transport::kTcp : client::Transport::kUdp;
        engine.onDatagram(now, src, buf, t);
        break;
      }
      case 1: {  // one of our own datagrams back, one byte changed
        buf = sink.sent.get(f.byte());
        if (!buf.empty()) {
          std::size_t at = f.u16() % buf.size();
          buf[at] = static_cast<std::uint8_t>(buf[at] ^ f.byte());
        }
        engine.onDatagram(now, from(f), buf);
        break;
      }
      case 2:  // time passes
        now += milliseconds(f.u16());
        engine.onTimer(now);
        break;
      case 3: {  // a packet from the TUN device
        auto inner = f.chunk(1400);
        buf.assign(protocol::kDataHeaderSize, 0);
        buf.insert(buf.end(), inner.begin(), inner.end());
        buf.resize(buf.size() + protocol::kAeadTagSize, 0);
        engine.onTunPacket(now, buf, inner.size());
        break;
      }
      case 4:
        engine.onNetworkChange(now);
        break;
      default:
        engine.onTcpClosed(now, from(f), "closed");
        break;
    }
  }
  (void)engine.status(now);
  return 0;
}
