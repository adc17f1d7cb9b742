#pragma once
// PortMapper: asks the home router to map our tunnel's UDP port, so that peers can reach us
// directly even behind a NAT that punching cannot open (a symmetric one). PCP (RFC 6887) first;
// NAT-PMP (RFC 6886) when the router answers PCP in version 0, or refuses it, or says nothing
// for PCP's four tries; UPnP-IGD last, which the edge runs (libminiupnpc blocks, so it lives on a
// thread there) and reports back. A mapping is renewed at half its lifetime, taken again at once
// when the router's epoch shows it restarted, and deleted by stop(). With nothing answering the
// search starts over after kRetryIdle, or at once when the network changes (restart()).
//
// I/O-free: the caller hands in `now`, the datagrams from the router's port 5351 (onDatagram) and
// UPnP's results, and sends what the Sink is given. The requests go out from the tunnel's own UDP
// socket (the router maps the source port of a PCP or NAT-PMP request). Single-threaded; owned
// by the daemon next to the engine. Never throws except std::bad_alloc; a bad datagram is ignored.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "base/time.hpp"
#include "protocol/ip_address.hpp"
#include "protocol/pcp.hpp"

namespace vpn::client {

enum class MapProtocol : std::uint8_t { kNone, kPcp, kNatPmp, kUpnp };
const char* toString(MapProtocol p);  // "none", "pcp", "nat-pmp", "upnp"

struct PortMapStatus {
  std::string state = "off";  // off | searching | mapped | unavailable
  MapProtocol protocol = MapProtocol::kNone;  // the one mapped, or being tried
  std::optional<protocol::IpAddress> gateway;
  std::optional<protocol::Endpoint> external;  // when mapped
  Duration lifetime{};                          // granted, when mapped
  Instant renew_at = kNever;                    // next renewal or next search
  std::string last_error;                       // why the last protocol tried did not map
};

class PortMapper {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void sendToGateway(const protocol::Endpoint& to, std::span<const std::uint8_t> d) = 0;
    // Runs UPnP-IGD discovery and AddPortMapping (lifetime 0: delete) off the loop; answers
    // with onUpnpResult. Ignored by sinks without UPnP (they answer "not available").
    virtual void requestUpnp(std::uint16_t internal_port, std::uint32_t lifetime) = 0;
    // The external endpoint appeared, changed or went away (nullopt).
    virtual void onMappingChanged(const std::optional<protocol::Endpoint>& external) = 0;
  };

  struct Options {
    std::uint32_t lifetime = 7200;             // seconds asked for
    Duration first_retry = milliseconds(250);  // doubled per try (RFC 6886: 250 ms)
    int tries = 4;                             // per protocol and request
    Duration retry_idle = seconds(300);        // nothing answered: search again after this
    bool upnp = true;
  };

  // `nonce` supplies PCP mapping nonces (random in the daemon, fixed in tests).
  PortMapper(Sink& sink, Options options, std::function<protocol::PcpNonce()> nonce);

  // Starts (or restarts, after a network change) the search for a mapping of `port` on the
  // router at `gateway`, with `local` our address on the router's LAN. A running mapping on
  // another router is forgotten (it cannot be deleted from here any more).
  void start(Instant now, const protocol::IpAddress& gateway, const protocol::IpAddress& local,
             std::uint16_t port);
  // Deletes the mapping we hold (lifetime 0) and stops. Safe to call when not started.
  void stop(Instant now);

  // A datagram that came from the gateway's port 5351. True when it was ours to read.
  bool onDatagram(Instant now, const protocol::Endpoint& from, std::span<const std::uint8_t> d);
  // The result of requestUpnp: the external endpoint and granted lifetime, or an error.
  void onUpnpResult(Instant now, const std::optional<protocol::Endpoint>& external,
                    std::uint32_t lifetime, const std::string& error);
  void onTimer(Instant now);
  Instant nextDeadline() const { return deadline_; }

  const PortMapStatus& status() const { return status_; }
  // Whether datagrams from `from` should be handed to onDatagram.
  bool isGateway(const protocol::Endpoint& from) const;

 private:
  enum class Step : std::uint8_t { kIdle, kPcp, kNatPmpAddress, kNatPmpMap, kUpnp, kMapped };

  void tryPcp(Instant now);
  void tryNatPmp(Instant now);
  void tryUpnp(Instant now);
  void sendCurrent(Instant now);
  void giveUp(Instant now, const std::string& why);
  void mapped(Instant now, MapProtocol p, const protocol::Endpoint& external,
              std::uint32_t lifetime);
  void nextProtocol(Instant now, const std::string& why);
  bool epochJumpedBack(std::uint32_t epoch, Instant now);
  void onPcp(Instant now, std::span<const std::uint8_t> d);
  void onNatPmp(Instant now, std::span<const std::uint8_t> d);

  Sink& sink_;
  Options options_;
  std::function<protocol::PcpNonce()> nonce_source_;
  PortMapStatus status_;
  Step step_ = Step::kIdle;
  protocol::IpAddress gateway_;
  protocol::IpAddress local_;
  std::uint16_t port_ = 0;
  protocol::PcpNonce nonce_{};
  int tries_ = 0;
  Duration retry_{};
  Instant deadline_ = kNever;
  bool renewing_ = false;  // a renewal of a mapping we hold, not a first request
  std::optional<protocol::IpAddress> natpmp_external_;
  // The router's epoch and when we read it (RFC 6887 section 8.5, RFC 6886 section 3.6).
  std::optional<std::uint32_t> epoch_;
  Instant epoch_at_{};
};

}  // namespace vpn::client
