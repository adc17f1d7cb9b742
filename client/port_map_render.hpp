#pragma once
// How `vpnpeer status` shows the router's port mapping ([nat] port_mapping, PortMapStatus): the
// "port_mapping" object of the JSON and one line of the text. Pure functions, thread-safe.
//   JSON: {"state": "off"|"searching"|"mapped"|"unavailable", "protocol": "pcp"|"nat-pmp"|
//          "upnp"|"none", "gateway": "192.168.1.1"|null, "external": "203.0.113.5:60001"|null,
//          "lifetime_s": 7200|null, "next_in_s": 3600.0|null, "last_error": ""}
//   text: "port mapping: pcp maps 203.0.113.5:60001 (gateway 192.168.1.1, renewed in 3600 s)"
#include <string>

#include "base/time.hpp"
#include "client/json_writer.hpp"
#include "client/portmap/port_mapper.hpp"

namespace vpn::client {

void writePortMapping(JsonWriter& w, const PortMapStatus& s, Instant now);
std::string portMappingLine(const PortMapStatus& s, Instant now);
// The line's words alone, for explain: "pcp maps ...", "none (...)", "off".
std::string portMappingSummary(const PortMapStatus& s, Instant now);

}  // namespace vpn::client
