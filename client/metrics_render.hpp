#pragma once
// The peer's Prometheus metrics (GET /metrics on [metrics] listen, off by default): per peer its
// state, path, RTT, traffic, handshakes and key updates; drops by reason; rendezvous servers;
// TUN, UDP and TCP counters; certificate expiry; process CPU and memory; build info. Names are
// vpnpeer_* (process_* for the process), counters end in _total, units are seconds and bytes.
// docs/status.md lists them.
#include <string>

#include "client/engine/engine_status.hpp"
#include "client/status_render.hpp"
#include "os/process_stats.hpp"

namespace vpn::client {

// `cert_not_after` and `ca_not_after` in seconds since the epoch.
std::string renderPeerMetrics(const DaemonInfo& info, const EngineStatus& status,
                              const os::ProcessStats& process, double cert_not_after,
                              double ca_not_after);

}  // namespace vpn::client
