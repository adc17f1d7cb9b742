#pragma once
// Renders a daemon's state for `vpnpeer status`: stable JSON (documented in docs/status.md, with a
// "version" field bumped on incompatible changes) and a text form for people. Pure functions.
#include <cstdint>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "client/engine/engine_status.hpp"
#include "client/portmap/port_mapper.hpp"
#include "client/tcp_link_limits.hpp"

namespace vpn::client {

struct DaemonInfo {
  std::string name;
  std::string listen;
  std::string tun;
  std::vector<std::string> addresses;
  double uptime_s = 0;
  std::uint64_t tun_write_errors = 0;
  std::uint64_t udp_tx_dropped = 0;
  std::size_t tcp_connections = 0;
  TcpLinkCounters tcp;
  // Our certificate and the CA's: expiry ("2027-12-04 10:00:00 UTC"), and a sentence each when
  // within the warning window; certificates blocked by [pki] blocklist.
  std::string cert_not_after, ca_not_after;
  std::string cert_fingerprint;  // our certificate's (changes when a reload renews it)
  std::vector<std::string> cert_warnings;
  std::size_t blocked_certificates = 0;
  // Kernel offloads of the UDP socket in use now, and how much they carried.
  bool udp_gso = false;
  bool udp_gro = false;
  std::uint64_t gso_sends = 0, gso_datagrams = 0, gro_reads = 0, gro_datagrams = 0;
  // The TUN device's: TCP super-packets read and cut (tso), received segments written merged.
  bool tun_tso = false;
  bool tun_uso = false;  // UDP super-packets read and cut, as tso
  bool tun_gro = false;
  std::uint64_t uso_reads = 0, uso_segments = 0;
  std::uint64_t tso_reads = 0, tso_segments = 0, tun_gro_writes = 0, tun_gro_segments = 0;
  std::uint64_t tun_read_errors = 0;
  // [tunnel] workers: threads sealing and opening data packets in batches, packets sealed and
  // opened that way, batches split over two or more threads, packets that could not be sealed.
  std::size_t seal_threads = 1;
  std::uint64_t sealed = 0, batch_opened = 0, seal_parallel_batches = 0, seal_failures = 0;
  // [nat] port_mapping: the router's mapping of our port ("off" when turned off).
  PortMapStatus port_mapping;
  // [nat] learn_keepalive: the NAT mapping lifetime measurement ("off", "pending" before the
  // first NAT discovery, "measuring", "done", "failed"), the longest idle time a mapping
  // survived and the shortest it did not, why it failed, seconds since it ended, and the
  // keepalive interval in use.
  std::string nat_lifetime_state = "off";
  std::optional<std::int64_t> nat_lifetime_kept_s, nat_lifetime_lost_s;
  std::string nat_lifetime_note;
  std::optional<double> nat_lifetime_age_s;
  double keepalive_s = 0;
};

std::string renderStatusJson(const DaemonInfo& info, const EngineStatus& status, Instant now);
std::string renderStatusText(const DaemonInfo& info, const EngineStatus& status, Instant now);

}  // namespace vpn::client
