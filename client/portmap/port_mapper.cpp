#include "client/portmap/port_mapper.hpp"

#include <algorithm>
#include <array>

#include "protocol/nat_pmp.hpp"

namespace vpn::client {

namespace {

constexpr Duration kTransientRetry = seconds(30);  // RFC 6887 section 7.4 "short lifetime" errors
constexpr Duration kUpnpWait = seconds(15);         // discovery (2 s) plus the SOAP calls
constexpr Duration kMinRenew = seconds(10);

std::uint32_t clampLifetime(std::uint32_t s) { return std::max<std::uint32_t>(s, 1); }

// Private (RFC 1918), shared (RFC 6598, carrier-grade NAT) or unique local (RFC 4193): an
// external address like that means another NAT sits above the router, and peers on the
// internet cannot use the mapping.
bool isPrivate(const protocol::IpAddress& a) {
  const std::uint8_t* b = a.bytes();
  if (a.isV4()) {
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64);
  }
  return (b[0] & 0xFE) == 0xFC;
}

// Empty when peers can reach `e`; otherwise why not.
std::string unusable(const protocol::Endpoint& e) {
  if (!e.address().isRoutableUnicast() || e.port() == 0) {
    return "the router maps to " + e.toString() + ", which no peer can reach";
  }
  if (isPrivate(e.address())) {
    return "the router maps to " + e.toString() +
           ", a private address: another NAT is above it (double NAT or carrier-grade NAT)";
  }
  return {};
}

}  // namespace

const char* toString(MapProtocol p) {
  switch (p) {
    case MapProtocol::kNone:
      return "none";
    case MapProtocol::kPcp:
      return "pcp";
    case MapProtocol::kNatPmp:
      return "nat-pmp";
    case MapProtocol::kUpnp:
      return "upnp";
  }
  return "none";
}

PortMapper::PortMapper(Sink& sink, Options options, std::function<protocol::PcpNonce()> nonce)
    : sink_(sink), options_(options), nonce_source_(std::move(nonce)) {}

bool PortMapper::isGateway(const protocol::Endpoint& from) const {
  return step_ != Step::kIdle && from.address() == gateway_ &&
         from.port() == protocol::kPcpServerPort;
}

void PortMapper::start(Instant now, const protocol::IpAddress& gateway,
                       const protocol::IpAddress& local, std::uint16_t port) {
  bool had = status_.external.has_value();
  gateway_ = gateway;
  local_ = local;
  port_ = port;
  epoch_.reset();
  natpmp_external_.reset();
  renewing_ = false;
  status_ = PortMapStatus{};
  status_.state = "searching";
  status_.gateway = gateway;
  if (had) {
    sink_.onMappingChanged(std::nullopt);
  }
  tryPcp(now);
}

void PortMapper::stop(Instant now) {
  (void)now;
  if (step_ == Step::kMapped || renewing_) {
    std::array<std::uint8_t, protocol::kPcpMapSize> buf{};
    const protocol::Endpoint to(gateway_, protocol::kPcpServerPort);
    switch (status_.protocol) {
      case MapProtocol::kPcp: {
        protocol::PcpMapRequest req{local_, nonce_, port_, 0, 0};
        if (std::size_t n = protocol::buildPcpMap(req, buf)) {
          sink_.sendToGateway(to, std::span(buf).first(n));
        }
        break;
      }
      case MapProtocol::kNatPmp:
        if (std::size_t n = protocol::buildNatPmpMapRequest(port_, 0, 0, buf)) {
          sink_.sendToGateway(to, std::span(buf).first(n));
        }
        break;
      case MapProtocol::kUpnp:
        sink_.requestUpnp(port_, 0);
        break;
      case MapProtocol::kNone:
        break;
    }
  }
  bool had = status_.external.has_value();
  step_ = Step::kIdle;
  deadline_ = kNever;
  status_ = PortMapStatus{};
  if (had) {
    sink_.onMappingChanged(std::nullopt);
  }
}

void PortMapper::tryPcp(Instant now) {
  step_ = Step::kPcp;
  status_.protocol = MapProtocol::kPcp;
  if (!renewing_) {
    nonce_ = nonce_source_();
  }
  tries_ = 0;
  retry_ = options_.first_retry;
  sendCurrent(now);
}

void PortMapper::tryNatPmp(Instant now) {
  if (!local_.isV4()) {
    nextProtocol(now, "NAT-PMP is IPv4 only");
    return;
  }
  step_ = Step::kNatPmpAddress;
  status_.protocol = MapProtocol::kNatPmp;
  tries_ = 0;
  retry_ = options_.first_retry;
  sendCurrent(now);
}

void PortMapper::tryUpnp(Instant now) {
  step_ = Step::kUpnp;
  status_.protocol = MapProtocol::kUpnp;
  deadline_ = now + kUpnpWait;
  sink_.requestUpnp(port_, options_.lifetime);
}

void PortMapper::sendCurrent(Instant now) {
  std::array<std::uint8_t, protocol::kPcpMapSize> buf{};
  std::size_t n = 0;
  switch (step_) {
    case Step::kPcp:
      n = protocol::buildPcpMap({local_, nonce_, port_, port_, options_.lifetime}, buf);
      break;
    case Step::kNatPmpAddress:
      n = protocol::buildNatPmpAddressRequest(buf);
      break;
    case Step::kNatPmpMap:
      n = protocol::buildNatPmpMapRequest(port_, port_, options_.lifetime, buf);
      break;
    default:
      return;
  }
  if (n != 0) {
    sink_.sendToGateway(protocol::Endpoint(gateway_, protocol::kPcpServerPort),
                        std::span(buf).first(n));
  }
  ++tries_;
  deadline_ = now + retry_;
  retry_ *= 2;
}

void PortMapper::nextProtocol(Instant now, const std::string& why) {
  status_.last_error = why;
  bool renewal = renewing_;
  renewing_ = false;
  if (renewal) {
    // The router no longer maps for us the way it did: look again from the start.
    if (status_.external) {
      status_.external.reset();
      sink_.onMappingChanged(std::nullopt);
    }
    status_.state = "searching";
    tryPcp(now);
    return;
  }
  switch (step_) {
    case Step::kPcp:
      tryNatPmp(now);
      return;
    case Step::kNatPmpAddress:
    case Step::kNatPmpMap:
      if (options_.upnp) {
        tryUpnp(now);
        return;
      }
      break;
    default:
      break;
  }
  giveUp(now, why);
}

void PortMapper::giveUp(Instant now, const std::string& why) {
  bool had = status_.external.has_value();
  step_ = Step::kIdle;
  renewing_ = false;
  status_.state = "unavailable";
  status_.protocol = MapProtocol::kNone;
  status_.external.reset();
  status_.lifetime = {};
  status_.last_error = why;
  deadline_ = now + options_.retry_idle;
  status_.renew_at = deadline_;
  if (had) {
    sink_.onMappingChanged(std::nullopt);
  }
}

void PortMapper::mapped(Instant now, MapProtocol p, const protocol::Endpoint& external,
                        std::uint32_t lifetime) {
  bool changed = status_.external != external;
  step_ = Step::kMapped;
  renewing_ = false;
  status_.state = "mapped";
  status_.protocol = p;
  status_.external = external;
  status_.lifetime = seconds(lifetime);
  status_.last_error.clear();
  deadline_ = now + std::max<Duration>(kMinRenew, seconds(lifetime) / 2);
  status_.renew_at = deadline_;
  if (changed) {
    sink_.onMappingChanged(external);
  }
}

void PortMapper::onTimer(Instant now) {
  if (now < deadline_) {
    return;
  }
  switch (step_) {
    case Step::kIdle:
      if (deadline_ != kNever) {
        status_.state = "searching";
        tryPcp(now);
      }
      return;
    case Step::kPcp:
    case Step::kNatPmpAddress:
    case Step::kNatPmpMap:
      if (tries_ < options_.tries) {
        sendCurrent(now);
        return;
      }
      nextProtocol(now, std::string("no answer to ") +
                            (step_ == Step::kPcp ? "PCP" : "NAT-PMP") + " from " +
                            gateway_.toString());
      return;
    case Step::kUpnp:
      nextProtocol(now, "UPnP: no answer");
      return;
    case Step::kMapped:
      renewing_ = true;
      if (status_.protocol == MapProtocol::kPcp) {
        tryPcp(now);
      } else if (status_.protocol == MapProtocol::kNatPmp) {
        tryNatPmp(now);
      } else {
        tryUpnp(now);
      }
      return;
  }
}

bool PortMapper::epochJumpedBack(std::uint32_t epoch, Instant now) {
  bool lost = false;
  if (epoch_) {
    // RFC 6887 section 8.5: the server's clock ran less than ours (allowing for 1/16 drift and
    // 2 s of slack), or went back: it restarted and has lost our mapping.
    auto ours = std::chrono::duration_cast<seconds>(now - epoch_at_).count();
    auto theirs = static_cast<long long>(epoch) - static_cast<long long>(*epoch_);
    lost = theirs < 0 || theirs + 2 < ours - ours / 16;
  }
  epoch_ = epoch;
  epoch_at_ = now;
  return lost;
}

bool PortMapper::onDatagram(Instant now, const protocol::Endpoint& from,
                            std::span<const std::uint8_t> d) {
  if (!isGateway(from)) {
    return false;
  }
  MapProtocol p = status_.protocol;
  if (step_ == Step::kPcp || (step_ == Step::kMapped && p == MapProtocol::kPcp)) {
    onPcp(now, d);
  } else if (step_ == Step::kNatPmpAddress || step_ == Step::kNatPmpMap ||
             (step_ == Step::kMapped && p == MapProtocol::kNatPmp)) {
    onNatPmp(now, d);
  }
  return true;
}

void PortMapper::onPcp(Instant now, std::span<const std::uint8_t> d) {
  protocol::PcpMapResponse r;
  switch (protocol::parsePcpMapResponse(d, r)) {
    case protocol::PcpParse::kNatPmpServer:
      if (step_ == Step::kPcp) {
        nextProtocol(now, "the router answers NAT-PMP, not PCP");
      }
      return;
    case protocol::PcpParse::kNotMapResponse:
    case protocol::PcpParse::kMalformed:
      return;
    case protocol::PcpParse::kOk:
      break;
  }
  if (r.nonce != nonce_ || r.protocol != protocol::kPcpProtocolUdp || r.internal_port != port_) {
    return;  // not an answer to our request
  }
  bool lost = epochJumpedBack(r.epoch, now);
  if (step_ == Step::kMapped) {
    if (lost) {
      renewing_ = true;  // the router restarted: the same request takes the mapping again
      tryPcp(now);
    }
    return;  // a late duplicate answer
  }
  if (r.result != protocol::PcpResult::kSuccess) {
    std::string why = std::string("PCP: ") + protocol::toString(r.result);
    if (protocol::pcpResultIsTransient(r.result)) {
      status_.last_error = why;
      tries_ = 0;
      retry_ = options_.first_retry;
      deadline_ = now + kTransientRetry;
      return;
    }
    nextProtocol(now, why);
    return;
  }
  if (std::string why = unusable(r.external); !why.empty()) {
    nextProtocol(now, "PCP: " + why);
    return;
  }
  mapped(now, MapProtocol::kPcp, r.external, clampLifetime(r.lifetime));
}

void PortMapper::onNatPmp(Instant now, std::span<const std::uint8_t> d) {
  protocol::NatPmpResponse r;
  if (!protocol::parseNatPmpResponse(d, r)) {
    return;
  }
  bool lost = epochJumpedBack(r.epoch, now);
  if (step_ == Step::kMapped) {
    if (lost) {
      renewing_ = true;
      tryNatPmp(now);
    }
    return;
  }
  if (r.result != protocol::NatPmpResult::kSuccess) {
    nextProtocol(now, std::string("NAT-PMP: ") + protocol::toString(r.result));
    return;
  }
  if (step_ == Step::kNatPmpAddress && r.opcode == protocol::kNatPmpOpAddress) {
    if (std::string why = unusable(protocol::Endpoint(r.external, port_)); !why.empty()) {
      nextProtocol(now, "NAT-PMP: " + why);
      return;
    }
    natpmp_external_ = r.external;
    step_ = Step::kNatPmpMap;
    tries_ = 0;
    retry_ = options_.first_retry;
    sendCurrent(now);
    return;
  }
  if (step_ == Step::kNatPmpMap && r.opcode == protocol::kNatPmpOpMapUdp &&
      r.internal_port == port_ && natpmp_external_) {
    if (r.external_port == 0) {
      nextProtocol(now, "NAT-PMP: the router mapped no port");
      return;
    }
    mapped(now, MapProtocol::kNatPmp, protocol::Endpoint(*natpmp_external_, r.external_port),
           clampLifetime(r.lifetime));
  }
}

void PortMapper::onUpnpResult(Instant now, const std::optional<protocol::Endpoint>& external,
                              std::uint32_t lifetime, const std::string& error) {
  bool ours = step_ == Step::kUpnp;
  if (!ours) {
    return;  // a late answer, or the answer to a deletion
  }
  if (!external) {
    nextProtocol(now, "UPnP: " + error);
    return;
  }
  if (std::string why = unusable(*external); !why.empty()) {
    nextProtocol(now, "UPnP: " + why);
    return;
  }
  // A lease of 0 is "permanent" in UPnP; renew as if it were what we asked for.
  mapped(now, MapProtocol::kUpnp, *external, lifetime == 0 ? options_.lifetime : lifetime);
}

}  // namespace vpn::client
