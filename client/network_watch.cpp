#include "client/network_watch.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace vpn::client {

namespace {
constexpr std::uint32_t kRtTableLocal = 255;  // per-address routes: they follow address events
}

std::string NetworkWatch::open(uv_loop_t& loop, std::vector<int> ignore_ifindex,
                               std::function<void()> on_change) {
  auto m = tun::NetlinkMonitor::open();
  if (!m) {
    return m.error();
  }
  monitor_ = std::make_unique<tun::NetlinkMonitor>(std::move(m.value()));
  ignore_ = std::move(ignore_ifindex);
  on_change_ = std::move(on_change);
  trailing_ = std::make_unique<net::Timer>(loop, [this] { fire(); });
  watcher_ = net::FdWatcher::create(loop, monitor_->fd(), [this] { onReadable(); });
  return {};
}

void NetworkWatch::close() {
  watcher_.reset();  // before the monitor: never close a polled fd
  trailing_.reset();
  monitor_.reset();
}

void NetworkWatch::onReadable() {
  auto events = monitor_->readEvents();
  bool changed = false;
  if (!events) {
    LOG_WARN("network watch: %s", events.error().c_str());
    changed = true;
  } else {
    for (const auto& e : events.value()) {
      if (e.kind != tun::netlink::EventKind::kResync &&
          std::find(ignore_.begin(), ignore_.end(), e.ifindex) != ignore_.end()) {
        continue;
      }
      switch (e.kind) {
        case tun::netlink::EventKind::kRouteChanged:
          changed = changed || (e.default_route && e.table != kRtTableLocal);
          break;
        case tun::netlink::EventKind::kLinkChanged:
          // Link messages also carry statistics and other noise; only removal matters here:
          // addresses and routes going away follow as their own events.
          changed = changed || e.removed;
          break;
        default:
          changed = true;
          LOG_DEBUG("network change: %s on interface %d%s%s", tun::netlink::toString(e.kind),
                    e.ifindex, e.address ? " " : "",
                    e.address ? e.address->toString().c_str() : "");
          break;
      }
    }
  }
  if (!changed) {
    return;
  }
  Instant now = Clock::now();
  if (now - last_fire_ >= kCoalesce) {
    fire();
  } else if (!trailing_->armed()) {
    trailing_->armAt(last_fire_ + kCoalesce);
  }
}

void NetworkWatch::fire() {
  trailing_->cancel();
  last_fire_ = Clock::now();
  on_change_();
}

}  // namespace vpn::client
