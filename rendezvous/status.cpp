#include "rendezvous/status.hpp"

#include <cinttypes>
#include <cstdio>

namespace vpn::rendezvous {
namespace {

constexpr std::string_view kVersion = "VPNPEER/1";

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string number(std::uint64_t v) {
  return std::to_string(v);
}

std::vector<std::pair<const char*, std::uint64_t>> counterList(const RendezvousCounters& c) {
  return {{"handshakes", c.handshakes},       {"registrations", c.registrations},
          {"lookups", c.lookups},             {"introductions", c.introductions},
          {"lookup_failures", c.lookup_failures}, {"keepalive_replies", c.keepalive_replies},
          {"stun_requests", c.stun_requests}, {"expired", c.expired},
          {"replaced", c.replaced},           {"relayed_packets", c.relayed_packets},
          {"relayed_bytes", c.relayed_bytes}, {"relay_binds", c.relay_binds},
          {"relay_failures", c.relay_failures}, {"relay_offers", c.relay_offers},
          {"relay_idle_freed", c.relay_idle_freed}, {"cookie_replies", c.cookie_replies},
          {"pending_evicted", c.pending_evicted}, {"candidates_rejected", c.candidates_rejected},
          {"also_here", c.also_here},         {"cookieless", c.cookieless},
          {"hellos_passed", c.hellos_passed}};
}

}  // namespace

std::optional<StatusFormat> parseStatusRequest(std::string_view line, std::string& error_response) {
  auto words = std::vector<std::string_view>{};
  std::size_t pos = 0;
  while (pos < line.size()) {
    std::size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) {
      end = line.size();
    }
    if (end > pos) {
      words.push_back(line.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  if (words.size() < 2 || words[0] != kVersion) {
    error_response = std::string(kVersion) + " ERR malformed request; this server speaks " +
                     std::string(kVersion) + "\n";
    return std::nullopt;
  }
  if (words[1] != "status") {
    error_response = std::string(kVersion) + " ERR unknown command '" + std::string(words[1]) +
                     "'; known: status\n";
    return std::nullopt;
  }
  if (words.size() == 2 || words[2] == "text") {
    return StatusFormat::kText;
  }
  if (words[2] == "json") {
    return StatusFormat::kJson;
  }
  error_response = std::string(kVersion) + " ERR status takes json or text\n";
  return std::nullopt;
}

std::string okResponse(std::string_view body) {
  return std::string(kVersion) + " OK\n" + std::string(body);
}

std::string renderStatusJson(const ServerInfo& info, const RendezvousStatus& st) {
  std::string o = "{\"name\":" + jsonString(info.name) + ",\"listen\":[";
  for (std::size_t i = 0; i < info.listen.size(); ++i) {
    o += (i ? "," : "") + jsonString(info.listen[i]);
  }
  o += "],\"uptime_s\":" + number(info.uptime_s);
  o += ",\"certificate\":{\"fingerprint\":" + jsonString(info.cert_fingerprint) +
       ",\"not_after\":" + jsonString(info.cert_not_after) + "}";
  o += std::string(",\"relay\":") + (info.relay ? "true" : "false");
  o += ",\"refresh_s\":" + number(info.refresh_s);
  o += std::string(",\"offloads\":{\"udp_gso\":") + (info.udp_gso ? "true" : "false") +
       ",\"udp_gro\":" + (info.udp_gro ? "true" : "false") +
       ",\"gso_datagrams\":" + number(info.gso_datagrams) +
       ",\"gro_datagrams\":" + number(info.gro_datagrams) + "}";
  o += ",\"sessions\":" + number(static_cast<std::uint64_t>(st.sessions));
  o += ",\"pending_handshakes\":" + number(static_cast<std::uint64_t>(st.pending_handshakes));
  o += ",\"lingering_handshakes\":" + number(static_cast<std::uint64_t>(st.lingering_handshakes));
  o += ",\"network_key\":";
  o += st.network_key.empty() ? std::string("null")
                              : "{\"source\":" + jsonString(st.network_key) +
                                    ",\"fingerprint\":" + jsonString(st.network_key_fingerprint) +
                                    "}";
  o += ",\"counters\":{";
  bool first = true;
  for (const auto& [k, v] : counterList(st.counters)) {
    o += (first ? "" : ",") + jsonString(k) + ":" + number(v);
    first = false;
  }
  o += "},\"udp\":{\"rx_packets\":" + number(info.udp_rx_packets) +
       ",\"tx_packets\":" + number(info.udp_tx_packets) +
       ",\"tx_dropped\":" + number(info.udp_tx_dropped) + "}";
  o += ",\"tcp\":{\"connections\":" + number(static_cast<std::uint64_t>(info.tcp.connections)) +
       ",\"accepted\":" + number(info.tcp.accepted) + ",\"refused\":" + number(info.tcp.refused) +
       ",\"refused_per_source\":" + number(info.tcp.refused_per_source) +
       ",\"idle_closed\":" + number(info.tcp.idle_closed) +
       ",\"unused_closed\":" + number(info.tcp.unused_closed) +
       ",\"rx_frames\":" + number(info.tcp.rx_frames) +
       ",\"tx_frames\":" + number(info.tcp.tx_frames) +
       ",\"tx_dropped\":" + number(info.tcp.tx_dropped) + "},\"drops\":{";
  first = true;
  for (const auto& [k, v] : st.drops) {
    o += (first ? "" : ",") + jsonString(k) + ":" + number(v);
    first = false;
  }
  o += "},\"peers\":[";
  for (std::size_t i = 0; i < st.peers.size(); ++i) {
    const auto& p = st.peers[i];
    o += (i ? "," : "") + std::string("{\"name\":") + jsonString(p.name) +
         ",\"endpoint\":" + jsonString(p.endpoint.toString()) +
         ",\"also_at\":" + (p.also_at ? jsonString(p.also_at->toString()) : "null") +
         ",\"transport\":" + jsonString(p.tcp ? "tcp" : "udp") +
         ",\"unreachable\":" + (p.unreachable ? "true" : "false") +
         ",\"nat_type\":" + jsonString(protocol::toString(p.nat_type)) + ",\"addresses\":[";
    for (std::size_t j = 0; j < p.addresses.size(); ++j) {
      o += (j ? "," : "") + jsonString(p.addresses[j].toString());
    }
    o += "],\"candidates\":[";
    for (std::size_t j = 0; j < p.candidates.size(); ++j) {
      o += (j ? "," : "") + std::string("{\"kind\":") +
           jsonString(protocol::toString(p.candidates[j].kind)) +
           ",\"endpoint\":" + jsonString(p.candidates[j].endpoint.toString()) + "}";
    }
    o += "],\"age_s\":" + number(p.age_s) + ",\"idle_s\":" + number(p.idle_s) +
         ",\"relay_channels\":" + number(static_cast<std::uint64_t>(p.relay_channels)) +
         ",\"relayed_bytes\":" + number(p.relayed_bytes) + "}";
  }
  return o + "]}\n";
}

std::string renderStatusText(const ServerInfo& info, const RendezvousStatus& st) {
  std::string o = "rendezvous " + info.name + ", up " + number(info.uptime_s) + " s\n  listen:";
  for (const auto& l : info.listen) {
    o += " " + l;
  }
  if (info.tcp.accepted != 0 || info.tcp.connections != 0) {
    o += "\n  tcp: " + std::to_string(info.tcp.connections) + " connections open, " +
         std::to_string(info.tcp.accepted) + " accepted, " + std::to_string(info.tcp.tx_dropped) +
         " sends dropped";
  }
  o += "\n  sessions " + std::to_string(st.sessions) + ", registered " +
       std::to_string(st.peers.size()) + ", handshakes in progress " +
       std::to_string(st.pending_handshakes);
  o += "\n  certificate " + info.cert_fingerprint.substr(0, 16) + "..., valid until " +
       info.cert_not_after + "; relay " + (info.relay ? "on" : "off") + ", refresh " +
       number(info.refresh_s) + " s";
  if (!st.network_key.empty()) {
    o += "\n  network key: " + st.network_key + ", fingerprint " + st.network_key_fingerprint;
  }
  o += "\n  counters:";
  for (const auto& [k, v] : counterList(st.counters)) {
    o += std::string(" ") + k + "=" + std::to_string(v);
  }
  o += "\n  drops:";
  if (st.drops.empty()) {
    o += " none";
  }
  for (const auto& [k, v] : st.drops) {
    o += " " + k + "=" + std::to_string(v);
  }
  o += "\n";
  for (const auto& p : st.peers) {
    o += "peer " + p.name + " at " + p.endpoint.toString() + (p.tcp ? " (tcp" : " (udp") +
         (p.unreachable ? ", connection closed)" : ")") + ", nat " +
         std::string(protocol::toString(p.nat_type)) + ", registered " + number(p.age_s) +
         " s ago, last heard " + number(p.idle_s) + " s ago";
    if (p.relay_channels != 0 || p.relayed_bytes != 0) {
      o += ", relay channels " + std::to_string(p.relay_channels) + ", relayed " +
           std::to_string(p.relayed_bytes) + " bytes";
    }
    o += "\n";
    if (p.also_at) {
      o += "  also at " + p.also_at->toString() + " (its other IP family)\n";
    }
    for (const auto& c : p.candidates) {
      o += "  candidate " + std::string(protocol::toString(c.kind)) + " " +
           c.endpoint.toString() + "\n";
    }
  }
  return o;
}

}  // namespace vpn::rendezvous
