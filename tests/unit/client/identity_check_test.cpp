#include "client/identity_check.hpp"

#include <gtest/gtest.h>

namespace vpn::client {
namespace {

config::PeerConfig peerFile() {
  config::PeerConfig c;
  c.name = "alice";
  c.cert = "/etc/vpnpeer/alice.crt";
  c.addresses = {*protocol::IpPrefix::parse("10.42.0.1/24")};
  return c;
}

crypto::CertIdentity cert(std::string name, std::vector<std::string> addrs) {
  crypto::CertIdentity id;
  id.name = std::move(name);
  for (const auto& a : addrs) {
    id.addresses.push_back(*protocol::IpPrefix::parse(a));
  }
  return id;
}

TEST(IdentityCheck, AcceptsMatchingCertificate) {
  EXPECT_TRUE(checkIdentity(peerFile(), cert("alice", {"10.42.0.1/24", "fd42::1/64"})).empty());
}

TEST(IdentityCheck, NamesEveryMismatch) {
  auto problems = checkIdentity(peerFile(), cert("bob", {"10.42.0.2/24"}));
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("certificate alice.crt is for 'bob'"), std::string::npos);
  EXPECT_NE(problems[1].find("10.42.0.1/24 is not in certificate alice.crt"), std::string::npos);
  EXPECT_NE(problems[1].find("10.42.0.2/24"), std::string::npos);
}

TEST(IdentityCheck, PrefixLengthMustMatchToo) {
  auto problems = checkIdentity(peerFile(), cert("alice", {"10.42.0.1/16"}));
  ASSERT_EQ(problems.size(), 1u);
}

TEST(IdentityCheck, RejectsRendezvousCertificate) {
  auto id = cert("alice", {"10.42.0.1/24"});
  id.rendezvous_role = true;
  auto problems = checkIdentity(peerFile(), id);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("rendezvous role"), std::string::npos);
}

}  // namespace
}  // namespace vpn::client
