#pragma once
// Cross-checks a peer file against its certificate: the name must be the certificate's CN and every
// configured overlay address must be certified (same address and prefix length). Returns one
// sentence per problem, each saying what to do; empty if consistent. Pure function.
#include <string>
#include <vector>

#include "config/peer_config.hpp"
#include "crypto/certificate.hpp"

namespace vpn::client {

std::vector<std::string> checkIdentity(const config::PeerConfig& cfg,
                                       const crypto::CertIdentity& cert);

}  // namespace vpn::client
