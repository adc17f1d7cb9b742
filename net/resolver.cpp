#include "net/resolver.hpp"

#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "net/sockaddr.hpp"

namespace vpn::net {

struct Resolver::Request {
  uv_getaddrinfo_t req{};
  Resolver* owner = nullptr;  // null once the Resolver is gone: the callback only frees
  std::uint16_t port = 0;
  std::string host;
  Callback cb;
};

Resolver::Resolver(uv_loop_t& loop) : loop_(loop) {
  post_ = std::make_unique<Timer>(loop_, [this] {
    auto ready = std::move(literals_);
    literals_.clear();
    for (auto& [endpoints, cb] : ready) {
      cb(std::move(endpoints), {});
    }
  });
}

Resolver::~Resolver() {
  for (Request* r : pending_) {
    r->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&r->req));
  }
}

std::size_t Resolver::outstanding() const {
  return pending_.size() + literals_.size();
}

void Resolver::resolve(const std::string& host, std::uint16_t port, Callback cb) {
  if (auto literal = protocol::IpAddress::parse(host)) {
    literals_.emplace_back(std::vector<protocol::Endpoint>{protocol::Endpoint(*literal, port)},
                           std::move(cb));
    post_->armAt(Clock::now());
    return;
  }
  auto* r = new Request;
  r->owner = this;
  r->port = port;
  r->host = host;
  r->cb = std::move(cb);
  r->req.data = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  int rc = uv_getaddrinfo(&loop_, &r->req, &Resolver::onResolved, r->host.c_str(), nullptr, &hints);
  if (rc != 0) {
    std::string why = "cannot resolve " + host + ": " + uv_strerror(rc);
    Callback c = std::move(r->cb);
    delete r;
    c({}, why);
    return;
  }
  pending_.push_back(r);
}

void Resolver::onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  std::unique_ptr<Request> r(static_cast<Request*>(req->data));
  Resolver* owner = r->owner;
  if (owner == nullptr || status == UV_ECANCELED) {
    uv_freeaddrinfo(res);
    return;
  }
  auto& p = owner->pending_;
  p.erase(std::remove(p.begin(), p.end(), r.get()), p.end());
  std::vector<protocol::Endpoint> out;
  std::string error;
  if (status != 0) {
    error = "cannot resolve " + r->host + ": " + uv_strerror(status);
  } else {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      auto ep = fromSockaddr(ai->ai_addr, ai->ai_addrlen);
      if (ep) {
        protocol::Endpoint e(ep->address(), r->port);
        if (std::find(out.begin(), out.end(), e) == out.end()) {
          out.push_back(e);
        }
      }
    }
    std::stable_partition(out.begin(), out.end(),
                          [](const protocol::Endpoint& e) { return e.address().isV4(); });
    if (out.empty()) {
      error = "cannot resolve " + r->host + ": no IPv4 or IPv6 address";
    }
  }
  uv_freeaddrinfo(res);
  r->cb(std::move(out), error);
}

}  // namespace vpn::net
