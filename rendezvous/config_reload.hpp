#pragma once
// What a reload (SIGHUP) of the rendezvous file applies to a running server, and what only a
// restart can change. Live: the certificate and key (crypto/credential_reload.hpp; the TCP
// listeners' TLS too), [pki] blocklist, every limit (handshake, lookup, TCP connections,
// refresh) and the [relay] settings, and log_level. Fixed at start: sockets (listen, tcp_listen,
// tcp_tls, the alternates), the control socket, the metrics listener, the user and the network
// key; a reload that changes one says so and keeps the running value. Pure functions; no I/O.
#include <string>
#include <vector>

#include "config/rendezvous_config.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"

namespace vpn::rendezvous {

// The engine's limits from the file (RendezvousEngine::setLimits takes the same fields).
RendezvousOptions limitOptions(const config::RendezvousConfig& cfg);

// The keys ("[rendezvous] listen", ...) whose value differs and needs a restart.
std::vector<std::string> restartOnlyChanges(const config::RendezvousConfig& running,
                                            const config::RendezvousConfig& fresh);

}  // namespace vpn::rendezvous
