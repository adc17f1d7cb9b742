#pragma once
// UpnpIgd: asks a UPnP Internet Gateway Device (the home router) to forward a UDP port to us,
// through Debian's libminiupnpc: SSDP discovery, the device description, then the SOAP actions
// GetExternalIPAddress, AddPortMapping and DeletePortMapping of WANIPConnection.
//
// Blocking: discovery waits up to Options::discover_wait (one search target, so one wait) and
// each SOAP call can take seconds, so the daemon runs it on a worker (net::WorkQueue) and never
// on the loop thread; a shutdown waits for the call under way. One caller at a
// time (not thread-safe); the object remembers the device it found and the mapping it holds, so
// a renewal asks for the same external port and unmap() deletes exactly what map() made.
//
// Errors: map() returns them as one sentence in Result::error (no device, a device that is not
// connected, the UPnP error code and its name); a device that stops answering is forgotten and
// discovered again on the next call. Never throws except std::bad_alloc.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "protocol/ip_address.hpp"

namespace vpn::net {

class UpnpIgd {
 public:
  struct Options {
    std::chrono::milliseconds discover_wait{2000};  // how long SSDP answers are awaited
    std::string description = "vpnpeer";             // shown in the router's mapping list
  };
  struct Result {
    std::optional<protocol::Endpoint> external;  // the router's public address and our port there
    std::uint32_t lifetime = 0;                  // granted lease in seconds; 0 = permanent
    std::string error;                           // why not, when external is empty
  };

  explicit UpnpIgd(Options options);
  ~UpnpIgd();
  UpnpIgd(const UpnpIgd&) = delete;
  UpnpIgd& operator=(const UpnpIgd&) = delete;

  // Maps UDP `port` on the router to `local`:`port` for `lifetime` seconds (renewing the mapping
  // already held, on the same external port). `gateway` is the default gateway: a device found
  // for another gateway (the network changed) is forgotten first.
  Result map(const protocol::IpAddress& gateway, const protocol::IpAddress& local,
             std::uint16_t port, std::uint32_t lifetime);
  // Deletes the mapping map() made, if any. Empty on success or when nothing was held.
  std::string unmap();

 private:
  struct Device;
  std::string discover(const protocol::IpAddress& local);
  void forget();

  Options options_;
  std::unique_ptr<Device> device_;
  std::optional<protocol::IpAddress> device_gateway_;
  std::uint16_t held_external_ = 0;  // external port of the mapping we hold; 0 = none
};

}  // namespace vpn::net
