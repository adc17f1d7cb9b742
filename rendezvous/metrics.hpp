#pragma once
// The rendezvous server's Prometheus metrics (GET /metrics on [metrics] listen): sessions and
// registrations, handshakes, lookups and introductions, STUN, relay channels, bytes and packets,
// drops by reason (rate-limit hits among them), UDP and TCP counters, process CPU and memory,
// and build info. Names are vpnpeer_rendezvous_* (process_* for the process), counters end in
// _total, units are seconds and bytes. docs/rendezvous.md lists them.
#include <string>

#include "os/process_stats.hpp"
#include "rendezvous/engine/rendezvous_engine.hpp"
#include "rendezvous/status.hpp"

namespace vpn::rendezvous {

std::string renderMetrics(const ServerInfo& info, const RendezvousStatus& st,
                          const os::ProcessStats& process);

}  // namespace vpn::rendezvous
