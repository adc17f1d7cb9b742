#include "client/port_map_render.hpp"

#include <cstdio>

#include "client/render_format.hpp"

namespace vpn::client {

void writePortMapping(JsonWriter& w, const PortMapStatus& s, Instant now) {
  w.key("port_mapping").beginObject();
  w.key("state").value(s.state);
  w.key("protocol").value(toString(s.protocol));
  w.key("gateway");
  s.gateway ? w.value(s.gateway->toString()) : w.null();
  w.key("external");
  s.external ? w.value(s.external->toString()) : w.null();
  w.key("lifetime_s");
  s.external ? w.value(static_cast<std::uint64_t>(
                   std::chrono::duration_cast<std::chrono::seconds>(s.lifetime).count()))
             : w.null();
  w.key("next_in_s");
  s.renew_at != kNever ? w.value(secondsUntil(s.renew_at, now)) : w.null();
  w.key("last_error").value(s.last_error);
  w.endObject();
}

std::string portMappingLine(const PortMapStatus& s, Instant now) {
  return "port mapping: " + portMappingSummary(s, now) + "\n";
}

std::string portMappingSummary(const PortMapStatus& s, Instant now) {
  std::string out;
  char next[48] = "";
  if (s.renew_at != kNever) {
    std::snprintf(next, sizeof next, "%.0f s", secondsUntil(s.renew_at, now));
  }
  std::string gw = s.gateway ? "gateway " + s.gateway->toString() : "no gateway";
  if (s.state == "mapped" && s.external) {
    out += std::string(toString(s.protocol)) + " maps " + s.external->toString() + " (" + gw +
           ", renewed in " + next + ")";
  } else if (s.state == "unavailable") {
    out += "none (" + gw + ": " + s.last_error + "; trying again in " + next + ")";
  } else if (s.state == "searching") {
    out += "asking " + gw + " (" + toString(s.protocol) + ")";
  } else {
    out += "off";
  }
  return out;
}

}  // namespace vpn::client
