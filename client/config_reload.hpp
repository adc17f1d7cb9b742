#pragma once
// What a reload (SIGHUP, `vpnpeer reload`) of the peer file applies to a running peer, and what
// only a restart can change. Live: [[peers]], [[rendezvous]], [pki] blocklist, the certificate
// and key (crypto/credential_reload.hpp), the cipher preference for new handshakes, log_level and
// cert_expiry_warning_days. Everything else is fixed at start (the device, its addresses, the
// sockets, the user, the network key, the engine's timers); a reload that changes it says so and
// keeps the running value. Pure functions; no I/O.
#include <string>
#include <vector>

#include "config/peer_config.hpp"

namespace vpn::client {

// The keys ("[peer] listen", "[tunnel] rekey", ...) whose value differs and needs a restart.
std::vector<std::string> restartOnlyChanges(const config::PeerConfig& running,
                                            const config::PeerConfig& fresh);

// "a, b and c": a list of keys for one sentence.
std::string joinKeys(const std::vector<std::string>& keys);

}  // namespace vpn::client
