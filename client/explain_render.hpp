#pragma once
// `vpnpeer explain PEER`: why a peer is on the path it is on, in plain words (docs/explain.md):
// both NAT types, the path and its RTT, each candidate and what came of it, the relay, the recent
// path changes and what would make the path direct. Pure functions over an EngineStatus snapshot
// (nothing is retained); thread-safe; any field values, however odd, give some answer, never a
// crash or an exception other than std::bad_alloc.
#include <optional>
#include <string>
#include <string_view>

#include "base/time.hpp"
#include "client/engine/engine_status.hpp"

namespace vpn::client {

// What stands between a peer and a direct path. `code` is stable (the JSON "blocker"):
//   already-direct | udp-blocked | symmetric-both | symmetric-port-restricted | held-down |
//   no-reply | trying | no-candidates | not-reachable | nat-unknown
// `advice` is for people: the cause and what would change it.
struct DirectAdvice {
  std::string code;
  std::string advice;
};
DirectAdvice adviseDirect(const EngineStatus& s, const PeerStatus& p, Instant now);

// nullopt if `peer` is one of s.peers; else one sentence that lists the known peer names and
// suggests the closest one.
std::optional<std::string> unknownPeerError(const EngineStatus& s, std::string_view peer);

// The text answer. For an unknown peer: the unknownPeerError sentence and a newline.
std::string renderExplain(const EngineStatus& s, std::string_view peer, Instant now);
// The same facts as one JSON object with "version": 1 and a trailing newline. For an unknown
// peer: {"version":1,"error":"<sentence>"}.
std::string renderExplainJson(const EngineStatus& s, std::string_view peer, Instant now);

// The daemon's whole control answer to "explain <argument>" (argument "PEER [json|text]", see
// control_protocol.hpp): okResponse with the text or JSON, or errorResponse for a bad argument or
// an unknown peer.
std::string explainResponse(const EngineStatus& s, std::string_view argument, Instant now);

}  // namespace vpn::client
