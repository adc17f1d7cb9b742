// Certificates at the rendezvous: a reloaded blocklist closes the sessions it names and refuses
// new ones; a session ends when its certificate expires (wall clock mapped onto the virtual one);
// an expired certificate cannot register again.
#include <gtest/gtest.h>

#include "tests/unit/rendezvous/rv_harness.hpp"

namespace vpn::test {
namespace {

using protocol::Endpoint;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

std::vector<std::string> registeredNames(RvHarness& h) {
  std::vector<std::string> out;
  for (const auto& p : h.engine->status(h.clock.now()).peers) {
    out.push_back(p.name);
  }
  return out;
}

void registerNode(RvHarness& h, RvHarness::Node& n) {
  h.start(n);
  h.send(n, [](RvTestPeer& p, auto& s) { p.sendRegister({}, s); });
}

TEST(RendezvousLifecycle, BlockedCertificatesLoseTheirSessionAndCannotComeBack) {
  RvHarness h;
  auto& alice = h.addPeer("alice", {"10.42.0.1/24"}, ep("198.51.100.7:40001"));
  auto& bob = h.addPeer("bob", {"10.42.0.2/24"}, ep("192.0.2.9:61000"));
  registerNode(h, alice);
  registerNode(h, bob);
  ASSERT_EQ(registeredNames(h), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(h.engine->closeBlocked(h.clock.now()), 0u);  // nothing blocked yet

  h.rv_tls->setBlocklist({h.pki.fingerprintOf("alice")});
  EXPECT_EQ(h.engine->closeBlocked(h.clock.now()), 1u);
  EXPECT_EQ(registeredNames(h), (std::vector<std::string>{"bob"}));
  // Her next handshake is refused during TLS verification (TLS 1.3 lets her side finish first,
  // so the server's view is what counts).
  auto failed_before = h.engine->status(h.clock.now()).counters.handshakes;
  h.start(alice);
  EXPECT_EQ(h.engine->status(h.clock.now()).counters.handshakes, failed_before);
  EXPECT_EQ(registeredNames(h), (std::vector<std::string>{"bob"}));
}

TEST(RendezvousLifecycle, ASessionEndsWhenItsCertificateExpires) {
  rendezvous::RendezvousOptions o;
  o.refresh = seconds(120);  // silent sessions outlive the test; only the certificate ends one
  FakeClock* clock = nullptr;
  auto wall0 = std::chrono::system_clock::now();
  Instant t0{};
  o.wall_clock = [&] {
    return wall0 + std::chrono::duration_cast<std::chrono::system_clock::duration>(clock->now() - t0);
  };
  RvHarness h(o);
  clock = &h.clock;
  t0 = h.clock.now();
  auto& carol = h.addPeerWithContext(
      h.pki.makeContextUntil("carol", {"10.42.0.3/24"}, wall0 + std::chrono::seconds(90)), "carol",
      ep("198.51.100.8:40002"));
  auto& bob = h.addPeer("bob", {"10.42.0.2/24"}, ep("192.0.2.9:61000"));
  registerNode(h, carol);
  registerNode(h, bob);
  ASSERT_EQ(registeredNames(h), (std::vector<std::string>{"bob", "carol"}));
  h.run(seconds(60));
  EXPECT_EQ(registeredNames(h), (std::vector<std::string>{"bob", "carol"}));
  h.run(seconds(40));  // past carol's expiry
  EXPECT_EQ(registeredNames(h), (std::vector<std::string>{"bob"}));
}

}  // namespace
}  // namespace vpn::test
