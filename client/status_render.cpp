#include "client/status_render.hpp"

#include <cstdio>

#include "client/json_writer.hpp"
#include "client/port_map_render.hpp"
#include "client/render_format.hpp"

namespace vpn::client {
namespace {

std::string humanBytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::string join(const std::vector<protocol::IpPrefix>& v) {
  std::string r;
  for (const auto& p : v) {
    r += r.empty() ? "" : ", ";
    r += p.toString();
  }
  return r;
}

// "relay-udp via 198.51.100.1:3478, channel 4711" or just the path name for a direct one.
// "nat mapping lifetime: ..." and the keepalive interval, one line.
std::string lifetimeLine(const DaemonInfo& info) {
  char ka[64];
  std::snprintf(ka, sizeof ka, "keepalive every %.1f s", info.keepalive_s);
  std::string what;
  if (info.nat_lifetime_state == "done" && info.nat_lifetime_kept_s) {
    what = "idle mappings kept " + std::to_string(*info.nat_lifetime_kept_s) + " s" +
           (info.nat_lifetime_lost_s
                ? ", gone after " + std::to_string(*info.nat_lifetime_lost_s) + " s"
                : " or more");
  } else if (info.nat_lifetime_state == "failed") {
    what = "not measured (" + info.nat_lifetime_note + ")";
  } else if (info.nat_lifetime_state == "off") {
    what = "not measured ([nat] learn_keepalive = false)";
  } else {
    what = info.nat_lifetime_state;
  }
  return "nat mapping lifetime: " + what + "; " + ka + "\n";
}

// After the MTU in the text form: how it was found.
std::string pmtuWords(const PeerStatus& p) {
  if (p.pmtu_state == "searching") {
    return p.pmtu_proven != 0 ? " (path MTU discovery running, " + std::to_string(p.pmtu_proven) +
                                    " proven)"
                              : " (path MTU discovery running)";
  }
  if (p.pmtu_state == "done") {
    return " (path MTU discovery done)";
  }
  if (p.pmtu_state == "unsupported") {
    return " (the peer does not answer path MTU probes)";
  }
  return "";
}

std::string pathWords(const PeerStatus& p) {
  std::string r = p.path;
  if (p.path.starts_with("relay-")) {
    const auto& via = p.relay ? p.relay : p.endpoint;
    if (via) {
      r += " via " + via->toString();
    }
    if (p.relay_channel != 0) {
      r += ", channel " + std::to_string(p.relay_channel);
    }
  }
  return r;
}

}  // namespace

std::string renderStatusJson(const DaemonInfo& info, const EngineStatus& status, Instant now) {
  JsonWriter w;
  w.beginObject();
  w.key("version").value(1);
  w.key("name").value(info.name);
  w.key("listen").value(info.listen);
  w.key("tun").value(info.tun);
  w.key("addresses").beginArray();
  for (const auto& a : info.addresses) {
    w.value(a);
  }
  w.endArray();
  w.key("uptime_s").value(info.uptime_s);
  w.key("certificates").beginObject();
  w.key("fingerprint").value(info.cert_fingerprint);
  w.key("not_after").value(info.cert_not_after);
  w.key("ca_not_after").value(info.ca_not_after);
  w.key("warnings").beginArray();
  for (const auto& s : info.cert_warnings) {
    w.value(s);
  }
  w.endArray();
  w.key("blocked").value(static_cast<std::uint64_t>(info.blocked_certificates));
  w.endObject();
  w.key("nat_type").value(status.nat_type);
  w.key("nat_port_stride").value(static_cast<std::uint64_t>(status.nat_port_stride));
  w.key("port_readings").value(status.port_readings);
  w.key("port_readings_failed").value(status.port_readings_failed);
  w.key("peers").beginArray();
  for (const auto& p : status.peers) {
    w.beginObject();
    w.key("name").value(p.name);
    w.key("state").value(p.state);
    w.key("endpoint");
    p.endpoint ? w.value(p.endpoint->toString()) : w.null();
    w.key("path").value(p.path);
    w.key("relay");
    p.relay ? w.value(p.relay->toString()) : w.null();
    w.key("relay_channel").value(static_cast<std::uint64_t>(p.relay_channel));
    w.key("relay_state").value(p.relay_state);
    w.key("path_reason").value(p.path_reason);
    w.key("nat_type").value(p.nat_type);
    w.key("prediction").value(p.prediction);
    writeHistory(w, p.history, now);
    w.key("direct_retry_in_s");
    p.direct_retry_at ? w.value(secondsUntil(*p.direct_retry_at, now)) : w.null();
    w.key("rtt_ms");
    p.rtt ? w.value(millis(*p.rtt)) : w.null();
    w.key("mtu").value(static_cast<std::uint64_t>(p.mtu));
    w.key("pmtu_state").value(p.pmtu_state);
    w.key("pmtu_proven").value(static_cast<std::uint64_t>(p.pmtu_proven));
    w.key("addresses").beginArray();
    for (const auto& a : p.addresses) {
      w.value(a.toString());
    }
    w.endArray();
    w.key("groups").beginArray();
    for (const auto& g : p.groups) {
      w.value(g);
    }
    w.endArray();
    w.key("cert_fingerprint");
    p.cert_fingerprint.empty() ? w.null() : w.value(p.cert_fingerprint);
    w.key("local_index").value(static_cast<std::uint64_t>(p.local_index));
    w.key("remote_index").value(static_cast<std::uint64_t>(p.remote_index));
    w.key("cipher").value(p.cipher);
    w.key("tx_bytes").value(p.tx_bytes);
    w.key("rx_bytes").value(p.rx_bytes);
    w.key("tx_packets").value(p.tx_packets);
    w.key("rx_packets").value(p.rx_packets);
    w.key("last_handshake_s_ago");
    p.last_handshake ? w.value(toSeconds(now - *p.last_handshake)) : w.null();
    w.key("handshakes").value(p.handshakes);
    w.key("key_updates").value(p.key_updates);
    w.key("last_error").value(p.last_error);
    writeCandidates(w, p.candidates);
    w.endObject();
  }
  w.endArray();
  w.key("rendezvous").beginArray();
  for (const auto& r : status.rendezvous) {
    w.beginObject();
    w.key("endpoint").value(r.endpoint.toString());
    w.key("state").value(r.state);
    w.key("registered").value(r.registered);
    w.key("reflexive");
    r.reflexive ? w.value(r.reflexive->toString()) : w.null();
    w.key("also_at");
    r.also_at ? w.value(r.also_at->toString()) : w.null();
    w.key("reflexive_alt");
    r.reflexive_alt ? w.value(r.reflexive_alt->toString()) : w.null();
    w.key("via");
    r.via ? w.value(r.via->toString()) : w.null();
    w.key("via_reason").value(r.via_reason);
    w.key("rtt_ms");
    r.rtt ? w.value(millis(*r.rtt)) : w.null();
    w.key("last_error").value(r.last_error);
    w.key("transport").value(r.transport);
    w.key("tcp");
    r.tcp ? w.value(r.tcp->toString()) : w.null();
    w.key("relay_channels").value(static_cast<std::uint64_t>(r.relay_channels));
    w.endObject();
  }
  w.endArray();
  w.key("drops").beginObject();
  for (const auto& [reason, count] : status.drops) {
    w.key(reason).value(count);
  }
  w.key("tun_write_errors").value(info.tun_write_errors);
  w.key("udp_tx_dropped").value(info.udp_tx_dropped);
  w.endObject();
  w.key("offloads").beginObject();
  w.key("udp_gso").value(info.udp_gso);
  w.key("udp_gro").value(info.udp_gro);
  w.key("gso_sends").value(info.gso_sends);
  w.key("gso_datagrams").value(info.gso_datagrams);
  w.key("gro_reads").value(info.gro_reads);
  w.key("gro_datagrams").value(info.gro_datagrams);
  w.key("tun_tso").value(info.tun_tso);
  w.key("tun_gro").value(info.tun_gro);
  w.key("tso_reads").value(info.tso_reads);
  w.key("tso_segments").value(info.tso_segments);
  w.key("tun_uso").value(info.tun_uso);
  w.key("uso_reads").value(info.uso_reads);
  w.key("uso_segments").value(info.uso_segments);
  w.key("tun_gro_writes").value(info.tun_gro_writes);
  w.key("tun_gro_segments").value(info.tun_gro_segments);
  w.key("tun_read_errors").value(info.tun_read_errors);
  w.endObject();
  writePortMapping(w, info.port_mapping, now);
  w.key("nat_mapping_lifetime").beginObject();
  w.key("state").value(info.nat_lifetime_state);
  w.key("kept_s");
  info.nat_lifetime_kept_s ? w.value(static_cast<std::uint64_t>(*info.nat_lifetime_kept_s)) : w.null();
  w.key("lost_s");
  info.nat_lifetime_lost_s ? w.value(static_cast<std::uint64_t>(*info.nat_lifetime_lost_s)) : w.null();
  w.key("note").value(info.nat_lifetime_note);
  w.key("measured_s_ago");
  info.nat_lifetime_age_s ? w.value(*info.nat_lifetime_age_s) : w.null();
  w.endObject();
  w.key("keepalive_s").value(info.keepalive_s);
  w.key("workers").beginObject();
  w.key("threads").value(static_cast<std::uint64_t>(info.seal_threads));
  w.key("sealed").value(info.sealed);
  w.key("opened").value(info.batch_opened);
  w.key("parallel_batches").value(info.seal_parallel_batches);
  w.key("failures").value(info.seal_failures);
  w.endObject();
  w.key("tcp").beginObject();
  w.key("connections").value(static_cast<std::uint64_t>(info.tcp_connections));
  w.key("accepted").value(info.tcp.accepted);
  w.key("refused").value(info.tcp.refused);
  w.key("refused_per_source").value(info.tcp.refused_per_source);
  w.key("idle_closed").value(info.tcp.idle_closed);
  w.key("unused_closed").value(info.tcp.unused_closed);
  w.key("refused_sends").value(info.tcp.refused_sends);
  w.endObject();
  w.key("admission").beginObject();
  w.key("cookie_replies").value(status.cookie_replies);
  w.key("handshake_attempts").value(static_cast<std::uint64_t>(status.handshake_attempts));
  w.key("candidates_rejected").value(status.candidates_rejected);
  w.key("hellos_via_sent").value(status.hellos_via_sent);
  w.key("hellos_from_received").value(status.hellos_from_received);
  w.endObject();
  w.key("network_key");
  if (status.network_key.empty()) {
    w.null();
  } else {
    w.beginObject();
    w.key("source").value(status.network_key);
    w.key("fingerprint").value(status.network_key_fingerprint);
    w.endObject();
  }
  w.endObject();
  return w.str() + "\n";
}

std::string renderStatusText(const DaemonInfo& info, const EngineStatus& status, Instant now) {
  std::string out;
  char line[512];
  std::string addrs;
  for (const auto& a : info.addresses) {
    addrs += addrs.empty() ? "" : ", ";
    addrs += a;
  }
  std::string nat = status.nat_type;
  if (status.nat_port_stride != 0) {
    nat += " (ports in sequence, step " + std::to_string(status.nat_port_stride) + ")";
  }
  std::snprintf(line, sizeof line, "vpnpeer %s: %s on %s, listening on UDP %s, NAT %s\n",
                info.name.c_str(), addrs.c_str(), info.tun.c_str(), info.listen.c_str(),
                nat.c_str());
  out += line;
  for (const auto& s : info.cert_warnings) {
    out += "warning: " + s + "\n";
  }
  if (status.peers.empty()) {
    out += "\nno peers configured\n";
  }
  for (const auto& p : status.peers) {
    out += "\npeer " + p.name + "\n";
    out += "  state:          " + p.state;
    if (p.state == "established") {
      out += " (" + pathWords(p) + ")";
    } else if (p.state == "unreachable") {
      out += " (no direct path found)";
    }
    out += "\n";
    out += "  endpoint:       " + (p.endpoint ? p.endpoint->toString() : std::string("unknown")) +
           "\n";
    if (!p.addresses.empty()) {
      out += "  addresses:      " + join(p.addresses) + "\n";
    }
    if (!p.groups.empty()) {
      std::string g;
      for (const auto& name : p.groups) {
        g += (g.empty() ? "" : ", ") + name;
      }
      out += "  groups:         " + g + "\n";
    }
    if (p.rtt) {
      std::snprintf(line, sizeof line, "  rtt:            %.2f ms\n", millis(*p.rtt));
      out += line;
    }
    if (p.mtu != 0) {
      out += "  mtu:            " + std::to_string(p.mtu) + pmtuWords(p) + "\n";
    }
    if (!p.path_reason.empty()) {
      out += "  reason:         " + p.path_reason + "\n";
    }
    out += "  nat type:       " + p.nat_type + "\n";
    if (!p.prediction.empty()) {
      out += "  port prediction: " + p.prediction + "\n";
    }
    if (!p.path.starts_with("relay-") && !p.relay_state.empty() && p.relay_state != "none") {
      // The standby channel (or a request for one) while not relayed.
      out += "  relay:          " +
             (p.relay_state == "bound" ? std::string("standby") : p.relay_state);
      if (p.relay) {
        out += " via " + p.relay->toString();
      }
      if (p.relay_channel != 0) {
        out += ", channel " + std::to_string(p.relay_channel);
      }
      out += "\n";
    }
    if (p.direct_retry_at) {
      out += "  direct retry:   " + humanIn(*p.direct_retry_at - now) + "\n";
    }
    if (!p.history.empty()) {
      const auto& e = p.history.back();
      out += "  last change:    " + e.from + " -> " + e.to + ", " + humanAgo(now - e.at) + ": " +
             e.reason + "\n";
    }
    if (!p.cipher.empty()) {
      out += "  cipher:         " + p.cipher + "\n";
    }
    std::snprintf(line, sizeof line, "  transfer:       %s received, %s sent (%llu / %llu packets)\n",
                  humanBytes(p.rx_bytes).c_str(), humanBytes(p.tx_bytes).c_str(),
                  static_cast<unsigned long long>(p.rx_packets),
                  static_cast<unsigned long long>(p.tx_packets));
    out += line;
    if (p.last_handshake) {
      std::snprintf(line, sizeof line, "  last handshake: %s (%llu handshakes, %llu key updates)\n",
                    humanAgo(now - *p.last_handshake).c_str(),
                    static_cast<unsigned long long>(p.handshakes),
                    static_cast<unsigned long long>(p.key_updates));
      out += line;
    }
    if (!p.last_error.empty()) {
      out += "  last error:     " + p.last_error + "\n";
    }
    for (const auto& c : p.candidates) {
      std::snprintf(line, sizeof line, "  candidate:      %s (%s): %s, %llu probes, %llu replies\n",
                    c.endpoint.toString().c_str(), c.kind.c_str(), c.state.c_str(),
                    static_cast<unsigned long long>(c.probes_sent),
                    static_cast<unsigned long long>(c.replies));
      out += line;
    }
  }
  for (const auto& r : status.rendezvous) {
    out += "\nrendezvous " + r.endpoint.toString() + "\n";
    out += "  state:          " + r.state + (r.registered ? ", registered" : "") + "\n";
    if (r.reflexive) {
      out += "  our public endpoint: " + r.reflexive->toString() + "\n";
    }
    if (r.also_at) {
      out += "  also at:        " + r.also_at->toString() + " (our public endpoint there: " +
             (r.reflexive_alt ? r.reflexive_alt->toString() : std::string("not known yet")) +
             ")\n";
    }
    if (r.via) {
      out += "  reached via:    " + r.via->toString() + " (" + r.via_reason + ")\n";
    }
    if (r.rtt) {
      std::snprintf(line, sizeof line, "  rtt:            %.2f ms\n", millis(*r.rtt));
      out += line;
    }
    out += "  transport:      " + r.transport + "\n";
    out += "  tcp fallback:   " + (r.tcp ? r.tcp->toString() : std::string("none")) + "\n";
    out += "  relay channels: " + std::to_string(r.relay_channels) + "\n";
    if (!r.last_error.empty()) {
      out += "  last error:     " + r.last_error + "\n";
    }
  }
  std::string drops;
  for (const auto& [reason, count] : status.drops) {
    if (count != 0) {
      drops += drops.empty() ? "" : ", ";
      drops += reason + " " + std::to_string(count);
    }
  }
  if (info.tun_write_errors != 0) {
    drops += (drops.empty() ? "" : ", ") + std::string("tun_write_errors ") +
             std::to_string(info.tun_write_errors);
  }
  out += "\ndropped packets: " + (drops.empty() ? std::string("none") : drops) + "\n";
  // "udp-gso (120 sends, 31.2 datagrams each)": what each offload in use carried.
  auto offload = [](const char* name, bool on, std::uint64_t sends, std::uint64_t datagrams) {
    if (!on) {
      return std::string(name) + " off";
    }
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s (%llu runs, %.1f datagrams each)", name,
                  static_cast<unsigned long long>(sends),
                  sends == 0 ? 0.0 : static_cast<double>(datagrams) / static_cast<double>(sends));
    return std::string(buf);
  };
  out += "offloads: " + offload("udp-gso", info.udp_gso, info.gso_sends, info.gso_datagrams) +
         ", " + offload("udp-gro", info.udp_gro, info.gro_reads, info.gro_datagrams) + ", " +
         offload("tun-tso", info.tun_tso, info.tso_reads, info.tso_segments) + ", " +
         offload("tun-uso", info.tun_uso, info.uso_reads, info.uso_segments) + ", " +
         offload("tun-gro", info.tun_gro, info.tun_gro_writes, info.tun_gro_segments) + "\n";
  out += "workers: " + std::to_string(info.seal_threads) +
         (info.seal_threads == 1 ? " thread" : " threads") + ", " + std::to_string(info.sealed) +
         " packets sealed and " + std::to_string(info.batch_opened) + " opened in batches, " +
         std::to_string(info.seal_parallel_batches) + " batches split over threads" +
         (info.seal_failures != 0 ? ", " + std::to_string(info.seal_failures) + " failed to seal" : "") +
         "\n";
  out += portMappingLine(info.port_mapping, now);
  out += lifetimeLine(info);
  if (!status.network_key.empty()) {
    out += "network key: " +
           std::string(status.network_key == "ca" ? "derived from the CA certificate"
                                                  : "from its key file") +
           ", fingerprint " + status.network_key_fingerprint + "\n";
  }
  if (status.cookie_replies != 0 || status.handshake_attempts != 0) {
    out += "handshakes: " + std::to_string(status.handshake_attempts) + " in progress, " +
           std::to_string(status.cookie_replies) + " answered with a cookie\n";
  }
  return out;
}

}  // namespace vpn::client
