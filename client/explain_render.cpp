#include "client/explain_render.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "client/control_protocol.hpp"
#include "client/json_writer.hpp"
#include "client/render_format.hpp"
#include "config/suggest.hpp"

namespace vpn::client {
namespace {

// NAT types by what they mean for punching (protocol/nat_type.hpp names them).
enum class NatClass { kUnknown, kOpen, kFirewall, kCone, kPortRestricted, kSymmetric, kBlocked };

NatClass classify(std::string_view t) {
  if (t == "open") {
    return NatClass::kOpen;
  }
  if (t == "open-with-firewall") {
    return NatClass::kFirewall;
  }
  if (t == "full-cone" || t == "restricted-cone" || t == "full-or-restricted-cone") {
    return NatClass::kCone;
  }
  if (t == "port-restricted-cone") {
    return NatClass::kPortRestricted;
  }
  if (t == "symmetric") {
    return NatClass::kSymmetric;
  }
  if (t == "udp-blocked") {
    return NatClass::kBlocked;
  }
  return NatClass::kUnknown;
}

std::string describeNat(std::string_view t, bool ours, bool have_rendezvous) {
  std::string name(t);
  if (t == "open") {
    return name + " (a public address, nothing filters)";
  }
  if (t == "open-with-firewall") {
    return name + " (a public address behind a firewall that drops unsolicited packets)";
  }
  if (t == "full-cone") {
    return name + " (one public port per local port, open to anyone)";
  }
  if (t == "restricted-cone") {
    return name + " (one public port per local port, open to addresses it has sent to)";
  }
  if (t == "full-or-restricted-cone") {
    return name + " (one public port per local port)";
  }
  if (t == "port-restricted-cone") {
    return name +
           " (one public port per local port, open only to the addresses and ports it "
           "has sent to)";
  }
  if (t == "symmetric") {
    return name + " (a new public port for every destination)";
  }
  if (t == "udp-blocked") {
    return name + " (UDP gets no answer from outside)";
  }
  // Unknown: NAT discovery runs against a rendezvous, and a peer's type comes with its
  // introduction, so without a rendezvous neither can be known.
  if (!have_rendezvous) {
    return name + " (found out through a rendezvous; none is in use)";
  }
  if (ours) {
    return name + " (the daemon's NAT discovery has no answer yet)";
  }
  return name +
         " (its introduction did not say: an older vpnpeer, or its discovery has not "
         "finished)";
}

bool isDirect(std::string_view path) {
  return path.starts_with("direct-");
}
bool isRelay(std::string_view path) {
  return path.starts_with("relay-");
}

// No rendezvous answers us over UDP: every one in use fell back to TCP.
bool allRendezvousOverTcp(const EngineStatus& s) {
  if (s.rendezvous.empty()) {
    return false;
  }
  for (const auto& r : s.rendezvous) {
    if (r.transport != "tcp") {
      return false;
    }
  }
  return true;
}

// "udp" / "tcp" for the rendezvous relaying this peer, or "" when unknown.
std::string relayTransport(const EngineStatus& s, const PeerStatus& p) {
  if (p.relay) {
    for (const auto& r : s.rendezvous) {
      if (r.endpoint == *p.relay) {
        return r.transport;
      }
    }
  }
  if (p.path == "relay-tcp") {
    return "tcp";
  }
  if (p.path == "relay-udp") {
    return "udp";
  }
  return "";
}

struct CandidateTally {
  std::size_t count = 0, tried = 0, answered = 0, pending = 0;
  std::uint64_t probes = 0;
};

CandidateTally tally(const PeerStatus& p) {
  CandidateTally t;
  for (const auto& c : p.candidates) {
    ++t.count;
    t.probes += c.probes_sent;
    if (c.probes_sent > 0 || c.state == "failed" || c.state == "succeeded") {
      ++t.tried;
    }
    if (c.replies > 0 || c.state == "succeeded") {
      ++t.answered;
    }
    if (c.state == "untried" || c.state == "probing") {
      ++t.pending;
    }
  }
  return t;
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string nextRetry(const PeerStatus& p, Instant now) {
  if (!p.direct_retry_at) {
    return "";
  }
  return "; the next direct attempt is " + humanIn(*p.direct_retry_at - now);
}

// The most recent demotion from a direct path, if it is the last change and recent enough that
// its hold-down may still run (docs/paths.md rule 6: at most 2 min, reset after 10 min).
const PathEvent* recentDemotion(const PeerStatus& p, Instant now) {
  if (p.history.empty()) {
    return nullptr;
  }
  const auto& e = p.history.back();
  if (!isDirect(e.from) || isDirect(e.to) || secondsAgo(e.at, now) > 600.0) {
    return nullptr;
  }
  return &e;
}

// What the candidates say when the NAT types do not explain it.
DirectAdvice fromCandidates(const PeerStatus& p, Instant now, std::string prefix) {
  auto t = tally(p);
  if (t.count == 0) {
    return {"no-candidates",
            prefix + "no candidates are known for " + p.name +
                " (no introduction from a rendezvous yet, and no endpoint in the peer file); " +
                p.name + " may not be registered with a rendezvous we use" + nextRetry(p, now)};
  }
  if (t.answered == 0 && t.pending == 0) {
    return {"no-reply",
            prefix + "none of the " + plural(t.count, "candidate", "candidates") +
                " answered any of " + plural(t.probes, "probe", "probes") +
                ": a firewall between the sites may drop UDP, or a NAT behaves differently from "
                "what discovery found; direct attempts go on in the background" +
                nextRetry(p, now)};
  }
  std::string progress = std::to_string(t.tried) + " of " +
                         plural(t.count, "candidate", "candidates") + " probed so far";
  if (t.answered > 0) {
    progress += ", " + std::to_string(t.answered) + " answered";
  }
  return {"trying", prefix + "a direct path is being tried (" + progress +
                        "), and the session moves to it as soon as a probe is answered" +
                        nextRetry(p, now)};
}

// Advice reads as a clause (it is also the JSON value); the text form makes it a sentence.
std::string asSentence(std::string clause) {
  if (!clause.empty() && clause.front() >= 'a' && clause.front() <= 'z') {
    clause.front() = static_cast<char>(clause.front() - 'a' + 'A');
  }
  if (!clause.empty() && clause.back() != '.') {
    clause += '.';
  }
  return clause;
}

const char* kDirectNeeds =
    "a direct path needs one side with an endpoint-independent NAT (full, restricted or "
    "port-restricted cone), a public address, a port mapping from either router (PCP or "
    "NAT-PMP, asked for by default: [nat] port_mapping), or a forwarded UDP port given as an "
    "endpoint in the other peer's file";
const char* kTcpRemedy =
    "allow outbound UDP, or make one side accept TCP (peer.tcp_listen with a public address or "
    "tcp_advertise)";

}  // namespace

DirectAdvice adviseDirect(const EngineStatus& s, const PeerStatus& p, Instant now) {
  if (p.path == "direct-udp") {
    return {"already-direct", "already direct"};
  }
  if (p.path == "direct-tcp") {
    return {"already-direct",
            "already direct, over TCP (UDP found no direct path; direct UDP would be preferred)"};
  }
  if (p.state == "idle") {
    return {"not-reachable", p.name +
                                 " has no endpoint in the peer file and there is no rendezvous "
                                 "to look it up; give it an endpoint, or add a [[rendezvous]] "
                                 "that both peers register with"};
  }
  NatClass ours = classify(s.nat_type);
  NatClass theirs = classify(p.nat_type);
  bool blocked_here = ours == NatClass::kBlocked || allRendezvousOverTcp(s);
  bool blocked_there = theirs == NatClass::kBlocked;
  if (blocked_here && blocked_there) {
    return {"udp-blocked", "UDP is blocked on both networks; " + std::string(kTcpRemedy)};
  }
  if (blocked_here) {
    return {"udp-blocked", "UDP is blocked on this network; " + std::string(kTcpRemedy)};
  }
  if (blocked_there) {
    return {"udp-blocked",
            "UDP is blocked on " + p.name + "'s network; " + std::string(kTcpRemedy)};
  }
  if (ours == NatClass::kSymmetric && theirs == NatClass::kSymmetric) {
    return {"symmetric-both",
            "both sides are behind symmetric NATs, which give a new port for every destination, "
            "so no hole can be punched; " +
                std::string(kDirectNeeds)};
  }
  auto strict = [](NatClass c) {
    return c == NatClass::kPortRestricted || c == NatClass::kFirewall;
  };
  if ((ours == NatClass::kSymmetric && strict(theirs)) ||
      (theirs == NatClass::kSymmetric && strict(ours))) {
    bool sym_here = ours == NatClass::kSymmetric;
    std::string sym_side = sym_here ? "this side" : p.name;
    std::string other_side = sym_here ? p.name : "this side";
    NatClass other = sym_here ? theirs : ours;
    std::string other_kind =
        other == NatClass::kFirewall ? "a firewall" : "a port-restricted cone NAT";
    return {"symmetric-port-restricted",
            sym_side +
                " is behind a symmetric NAT, which gives a new port for every destination, "
                "and " +
                other_side + " behind " + other_kind +
                ", which lets in only packets from the exact address and port it sent to, so the "
                "port the symmetric side sends from is never one the other side has sent to; a "
                "direct path needs the symmetric side on an endpoint-independent NAT or behind "
                "a router that maps its port (PCP or NAT-PMP: [nat] port_mapping), the other "
                "side's filter loosened to a full or restricted cone, a public address, or a "
                "forwarded UDP port given as an endpoint in the other peer's file"};
  }
  if (const PathEvent* e = recentDemotion(p, now); e != nullptr && isRelay(p.path)) {
    return {"held-down", "the direct path (" + e->from + ") was demoted " + humanAgo(now - e->at) +
                             " (" + e->reason +
                             "); it is held down for a while before it is tried again, so a "
                             "flapping path does not bounce the session" +
                             nextRetry(p, now)};
  }
  if (ours == NatClass::kUnknown || theirs == NatClass::kUnknown) {
    std::string who = ours == theirs               ? "neither NAT type is known"
                      : ours == NatClass::kUnknown ? "our NAT type is not known yet"
                                                   : p.name + "'s NAT type is not known";
    DirectAdvice a = fromCandidates(p, now,
                                    who +
                                        ", so the NAT types cannot tell whether a hole "
                                        "can be punched; ");
    if (a.code != "no-candidates") {
      a.code = "nat-unknown";
    }
    return a;
  }
  return fromCandidates(p, now, "the NAT types allow a direct path; ");
}

std::optional<std::string> unknownPeerError(const EngineStatus& s, std::string_view peer) {
  if (s.peer(peer) != nullptr) {
    return std::nullopt;
  }
  std::vector<std::string_view> names;
  names.reserve(s.peers.size());
  std::string list;
  for (const auto& p : s.peers) {
    names.push_back(p.name);
    list += (list.empty() ? "" : ", ") + p.name;
  }
  std::string r = "no peer named '" + std::string(peer) + "'";
  if (names.empty()) {
    return r + "; this daemon has no peers configured";
  }
  r += config::didYouMean(peer, names);
  return r + "; the peers are: " + list;
}

std::string renderExplain(const EngineStatus& s, std::string_view peer, Instant now) {
  if (auto err = unknownPeerError(s, peer)) {
    return *err + "\n";
  }
  const PeerStatus& p = *s.peer(peer);
  std::string out;
  char line[96];

  // Where it is now.
  std::string head;
  if (p.state == "established" && isDirect(p.path)) {
    head =
        p.name + " is on " + p.path + ": direct over " + (p.path == "direct-tcp" ? "TCP" : "UDP");
    if (p.endpoint) {
      head += " to " + p.endpoint->toString();
    }
  } else if (p.state == "established" && isRelay(p.path)) {
    head =
        p.name + " is on " + p.path + ": relayed over " + (p.path == "relay-tcp" ? "TCP" : "UDP");
    const auto& via = p.relay ? p.relay : p.endpoint;
    if (via) {
      head += " through " + via->toString();
    }
    if (p.relay_channel != 0) {
      head += ", channel " + std::to_string(p.relay_channel);
    }
  } else if (p.state == "connecting") {
    head = p.name +
           " is not connected yet (connecting: lookup, hole punching or handshake under "
           "way)";
  } else if (p.state == "unreachable") {
    head = p.name + " is unreachable (hole punching found no direct path; retried with backoff)";
  } else if (p.state == "idle") {
    head = p.name + " is idle (no endpoint known and no rendezvous to ask)";
  } else {
    head = p.name + " is " + p.state + " (path " + p.path + ")";
  }
  if (p.rtt) {
    std::snprintf(line, sizeof line, ", rtt %.2f ms", millis(*p.rtt));
    head += line;
  }
  out += head + "\n";
  if (!p.path_reason.empty()) {
    out += "why: " + p.path_reason + "\n";
  }
  if (!p.last_error.empty()) {
    out += "last error: " + p.last_error + "\n";
  }

  out += "\nNAT types\n";
  std::string us = "this side:";
  std::string them = p.name + ":";
  std::size_t label = std::max(us.size(), them.size()) + 1;
  us.resize(label, ' ');
  them.resize(label, ' ');
  out += "  " + us + describeNat(s.nat_type, true, !s.rendezvous.empty()) + "\n";
  out += "  " + them + describeNat(p.nat_type, false, !s.rendezvous.empty()) + "\n";
  if (!s.port_mapping.empty()) {
    out += "  port mapping on this side: " + s.port_mapping + "\n";
  }

  out += "\ncandidates\n";
  if (p.candidates.empty()) {
    out +=
        "  none known (no introduction from a rendezvous yet, and no endpoint in the peer file)\n";
  }
  for (const auto& c : p.candidates) {
    std::string what;
    std::string probes = plural(c.probes_sent, "probe", "probes");
    std::string replies = plural(c.replies, "reply", "replies");
    if (c.state == "untried") {
      what = "not tried yet";
    } else if (c.state == "probing") {
      what = "probing: " + probes + " sent, " + replies + " so far";
    } else if (c.state == "succeeded" && c.probes_sent == 0) {
      what = "succeeded (reached without probes, e.g. by the handshake to a configured endpoint)";
    } else if (c.state == "succeeded") {
      what = "answered: " + replies + " to " + probes;
    } else if (c.state == "failed") {
      what = c.replies == 0 ? "failed: no reply to " + probes
                            : "failed: " + replies + " to " + probes + ", then silent";
    } else {
      what = c.state + ": " + probes + " sent, " + replies;
    }
    out += "  " + c.endpoint.toString() + " (" + c.kind + "): " + what + "\n";
  }

  out += "\nrelay\n";
  std::string transport = relayTransport(s, p);
  std::string where = p.relay ? " through " + p.relay->toString() : std::string();
  if (p.relay_state == "bound") {
    out += "  bound: channel " + std::to_string(p.relay_channel) + where +
           (transport.empty() ? "" : " over " + transport) +
           (isRelay(p.path) ? " (carrying the session)\n"
                            : " (standby, ready for a demotion or a move)\n");
  } else if (p.relay_state == "requested") {
    out += "  requested" + where + ", waiting for the rendezvous to bind a channel\n";
  } else if (p.relay_state.empty() || p.relay_state == "none") {
    out += "  none bound\n";
  } else {
    out += "  " + p.relay_state + where + "\n";
  }
  if (p.direct_retry_at) {
    out += "  next direct attempt: " + humanIn(*p.direct_retry_at - now) + "\n";
  }

  out += "\nrecent path changes (oldest first)\n";
  if (p.history.empty()) {
    out += "  none yet\n";
  }
  for (const auto& e : p.history) {
    std::snprintf(line, sizeof line, "  %-11s ", humanAgo(now - e.at).c_str());
    out += line + e.from + " -> " + e.to + (e.reason.empty() ? "" : ": " + e.reason) + "\n";
  }

  out += "\nwhat would make it direct\n";
  out += wrap(asSentence(adviseDirect(s, p, now).advice), "  ");
  return out;
}

std::string renderExplainJson(const EngineStatus& s, std::string_view peer, Instant now) {
  JsonWriter w;
  w.beginObject();
  w.key("version").value(1);
  if (auto err = unknownPeerError(s, peer)) {
    w.key("error").value(*err);
    w.endObject();
    return w.str() + "\n";
  }
  const PeerStatus& p = *s.peer(peer);
  w.key("peer").value(p.name);
  w.key("state").value(p.state);
  w.key("path").value(p.path);
  w.key("endpoint");
  p.endpoint ? w.value(p.endpoint->toString()) : w.null();
  w.key("rtt_ms");
  p.rtt ? w.value(millis(*p.rtt)) : w.null();
  w.key("path_reason").value(p.path_reason);
  w.key("last_error").value(p.last_error);
  w.key("our_nat_type").value(s.nat_type);
  w.key("peer_nat_type").value(p.nat_type);
  w.key("port_mapping");
  s.port_mapping.empty() ? w.null() : w.value(s.port_mapping);
  writeCandidates(w, p.candidates);
  w.key("relay").beginObject();
  w.key("endpoint");
  p.relay ? w.value(p.relay->toString()) : w.null();
  w.key("channel").value(static_cast<std::uint64_t>(p.relay_channel));
  w.key("state").value(p.relay_state);
  std::string transport = relayTransport(s, p);
  w.key("transport");
  transport.empty() ? w.null() : w.value(transport);
  w.endObject();
  w.key("direct_retry_in_s");
  p.direct_retry_at ? w.value(secondsUntil(*p.direct_retry_at, now)) : w.null();
  writeHistory(w, p.history, now);
  auto advice = adviseDirect(s, p, now);
  w.key("blocker").value(advice.code);
  w.key("advice").value(advice.advice);
  w.endObject();
  return w.str() + "\n";
}

std::string explainResponse(const EngineStatus& s, std::string_view argument, Instant now) {
  std::string error;
  auto arg = parseExplainArgument(argument, error);
  if (!arg) {
    return errorResponse(error);
  }
  if (auto err = unknownPeerError(s, arg->peer)) {
    return errorResponse(*err);
  }
  return okResponse(arg->json ? renderExplainJson(s, arg->peer, now)
                              : renderExplain(s, arg->peer, now));
}

}  // namespace vpn::client
