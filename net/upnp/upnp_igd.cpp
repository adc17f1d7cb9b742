#include "net/upnp/upnp_igd.hpp"

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include <array>
#include <random>

namespace vpn::net {

namespace {

constexpr int kConflictInMappingEntry = 718;
constexpr int kOnlyPermanentLeases = 725;
constexpr int kNoSuchEntry = 714;
constexpr int kRandomPortTries = 3;

std::string describe(const char* action, int rc) {
  const char* name = strupnperror(rc);
  return std::string(action) + " failed: " + (rc > 0 ? "UPnP error " : "") +
         (rc > 0 ? std::to_string(rc) + " " : "") + (name != nullptr ? name : "unknown error");
}

}  // namespace

struct UpnpIgd::Device {
  UPNPUrls urls{};
  IGDdatas data{};
  ~Device() { FreeUPNPUrls(&urls); }
  const char* control() const { return urls.controlURL; }
  const char* service() const { return data.first.servicetype; }
};

UpnpIgd::UpnpIgd(Options options) : options_(std::move(options)) {}

UpnpIgd::~UpnpIgd() = default;

void UpnpIgd::forget() {
  device_.reset();
  device_gateway_.reset();
  held_external_ = 0;
}

std::string UpnpIgd::discover(const protocol::IpAddress& local) {
  int error = 0;
  const std::string ifaddr = local.toString();
  // One search target, so one wait: upnpDiscover() tries four in turn when nothing answers
  // (four times the wait, which would hold up a shutdown). IGD:2 devices answer IGD:1 searches.
  UPNPDev* list = upnpDiscoverDevice("urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                                     static_cast<int>(options_.discover_wait.count()),
                                     ifaddr.c_str(), nullptr, UPNP_LOCAL_PORT_ANY, 0, 2, &error);
  if (list == nullptr) {
    return "no UPnP device answered the search within " +
           std::to_string(options_.discover_wait.count()) + " ms";
  }
  auto dev = std::make_unique<Device>();
  std::array<char, 64> lanaddr{};
  int found = UPNP_GetValidIGD(list, &dev->urls, &dev->data, lanaddr.data(),
                               static_cast<int>(lanaddr.size()));
  freeUPNPDevlist(list);
  switch (found) {
    case 1:
      device_ = std::move(dev);
      return {};
    case 2:
      return "the UPnP gateway says its internet connection is down";
    case 3:
      return "UPnP devices answered, but none is an internet gateway";
    default:
      dev->urls = UPNPUrls{};  // nothing was allocated
      return "no UPnP internet gateway found";
  }
}

UpnpIgd::Result UpnpIgd::map(const protocol::IpAddress& gateway, const protocol::IpAddress& local,
                             std::uint16_t port, std::uint32_t lifetime) {
  Result out;
  if (device_gateway_ && !(*device_gateway_ == gateway)) {
    forget();  // another network: the old device and its mapping are out of reach
  }
  if (!device_) {
    out.error = discover(local);
    if (!out.error.empty()) {
      return out;
    }
    device_gateway_ = gateway;
  }
  std::array<char, 64> ext_text{};
  int rc = UPNP_GetExternalIPAddress(device_->control(), device_->service(), ext_text.data());
  if (rc != 0) {
    out.error = describe("GetExternalIPAddress", rc);
    forget();
    return out;
  }
  auto ext = protocol::IpAddress::parse(ext_text.data());
  if (!ext) {
    out.error = std::string("the router gave no usable external address ('") + ext_text.data() +
                "')";
    return out;
  }
  const std::string in_port = std::to_string(port);
  const std::string client = local.toString();
  auto add = [&](std::uint16_t ext_port, std::uint32_t lease) {
    return UPNP_AddPortMapping(device_->control(), device_->service(),
                               std::to_string(ext_port).c_str(), in_port.c_str(), client.c_str(),
                               options_.description.c_str(), "UDP", nullptr,
                               std::to_string(lease).c_str());
  };
  // A renewal keeps the external port peers already know; a first request asks for ours.
  std::uint16_t want = held_external_ != 0 ? held_external_ : port;
  rc = add(want, lifetime);
  if (rc == kOnlyPermanentLeases) {
    lifetime = 0;  // IGDv1 routers that only know permanent mappings; unmap() still deletes it
    rc = add(want, lifetime);
  }
  if (rc == kConflictInMappingEntry) {
    // Another host has that port. IGDv2 picks a free one for us; IGDv1 needs us to guess.
    std::array<char, 8> reserved{};
    rc = UPNP_AddAnyPortMapping(device_->control(), device_->service(),
                                std::to_string(want).c_str(), in_port.c_str(), client.c_str(),
                                options_.description.c_str(), "UDP", nullptr,
                                std::to_string(lifetime).c_str(), reserved.data());
    if (rc == 0) {
      int got = std::atoi(reserved.data());
      want = static_cast<std::uint16_t>(got > 0 && got < 65536 ? got : 0);
      if (want == 0) {
        out.error = "AddAnyPortMapping gave no usable port";
        return out;
      }
    } else {
      std::mt19937 rng(std::random_device{}());
      std::uniform_int_distribution<int> dist(20000, 60999);
      rc = kConflictInMappingEntry;
      for (int i = 0; i < kRandomPortTries && rc == kConflictInMappingEntry; ++i) {
        want = static_cast<std::uint16_t>(dist(rng));
        rc = add(want, lifetime);
      }
    }
  }
  if (rc != 0) {
    out.error = describe("AddPortMapping", rc);
    if (rc < 0) {
      forget();  // no answer or nonsense: discover again next time
    }
    return out;
  }
  held_external_ = want;
  out.external = protocol::Endpoint(*ext, want);
  out.lifetime = lifetime;
  return out;
}

std::string UpnpIgd::unmap() {
  if (!device_ || held_external_ == 0) {
    return {};
  }
  int rc = UPNP_DeletePortMapping(device_->control(), device_->service(),
                                  std::to_string(held_external_).c_str(), "UDP", nullptr);
  held_external_ = 0;
  if (rc != 0 && rc != kNoSuchEntry) {
    return describe("DeletePortMapping", rc);
  }
  return {};
}

}  // namespace vpn::net
