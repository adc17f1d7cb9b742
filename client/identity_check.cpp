#include "client/identity_check.hpp"

#include <algorithm>

namespace vpn::client {

std::vector<std::string> checkIdentity(const config::PeerConfig& cfg,
                                       const crypto::CertIdentity& cert) {
  std::vector<std::string> problems;
  const std::string cert_file = cfg.cert.filename().string();
  if (cert.name != cfg.name) {
    problems.push_back("peer.name is '" + cfg.name + "' but certificate " + cert_file +
                       " is for '" + cert.name + "'; use the certificate signed for '" + cfg.name +
                       "' or fix the name");
  }
  if (cert.rendezvous_role) {
    problems.push_back("certificate " + cert_file +
                       " is for the rendezvous role; a peer needs a peer certificate "
                       "(vpnpeer cert sign without --rendezvous)");
  }
  std::string certified;
  for (const auto& a : cert.addresses) {
    certified += certified.empty() ? "" : ", ";
    certified += a.toString();
  }
  for (const auto& a : cfg.addresses) {
    bool found = std::any_of(cert.addresses.begin(), cert.addresses.end(),
                             [&](const protocol::IpPrefix& c) { return c == a; });
    if (!found) {
      problems.push_back("peer.address " + a.toString() + " is not in certificate " + cert_file +
                         " (it certifies " + (certified.empty() ? "no address" : certified) +
                         "); sign a certificate with --ip " + a.toString() +
                         " or use a certified address");
    }
  }
  return problems;
}

}  // namespace vpn::client
