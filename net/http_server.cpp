#include "net/http_server.hpp"

#include <algorithm>

namespace vpn::net {
namespace {

constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

std::unique_ptr<HttpServer> HttpServer::listen(uv_loop_t& loop, const protocol::Endpoint& bind,
                                               Handler handler, Limits limits) {
  std::unique_ptr<HttpServer> s(new HttpServer(loop, std::move(handler), limits));
  HttpServer* self = s.get();
  s->listener_ = TcpListener::listen(
      loop, bind, [self](std::unique_ptr<TcpConnection> c) { self->onAccept(std::move(c)); });
  return s;
}

HttpServer::HttpServer(uv_loop_t& loop, Handler handler, Limits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits), timer_(loop, [this] { onTimer(); }) {}

HttpServer::~HttpServer() {
  if (listener_) {
    listener_->close();
  }
  for (auto& c : conns_) {
    c.tcp->close("server stopped");
  }
  conns_.clear();
}

void HttpServer::onAccept(std::unique_ptr<TcpConnection> tcp) {
  if (conns_.size() >= limits_.max_connections) {
    counters_.refused++;
    tcp->close("too many connections");
    return;  // the connection object goes; its on_closed was never set
  }
  conns_.push_back(Conn{std::move(tcp), {}, Clock::now() + limits_.timeout, false});
  auto it = std::prev(conns_.end());
  TcpConnection::Callbacks cb;
  cb.on_data = [this, it](std::span<std::uint8_t> bytes) { onData(it, bytes); };
  cb.on_closed = [this, it](const std::string&) { conns_.erase(it); };
  it->tcp->start(std::move(cb));
  arm();
}

void HttpServer::onData(std::list<Conn>::iterator it, std::span<std::uint8_t> bytes) {
  Conn& c = *it;
  if (c.answered) {
    return;
  }
  c.request.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto end = c.request.find("\r\n\r\n");
  if (end == std::string::npos) {
    end = c.request.find("\n\n");
  }
  if (end == std::string::npos) {
    if (c.request.size() > limits_.max_request) {
      respond(c, 431, "Request Header Fields Too Large", "request too large\n");
    }
    return;
  }
  if (end > limits_.max_request) {
    respond(c, 431, "Request Header Fields Too Large", "request too large\n");
    return;
  }
  // The request line: METHOD SP TARGET SP HTTP/1.x
  std::string_view head(c.request.data(), c.request.find_first_of("\r\n"));
  auto sp1 = head.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : head.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || head.substr(sp2 + 1, 7) != "HTTP/1." ||
      head.size() != sp2 + 9) {
    respond(c, 400, "Bad Request", "malformed request\n");
    return;
  }
  std::string_view method = head.substr(0, sp1);
  std::string_view target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  if (method != "GET") {
    respond(c, 405, "Method Not Allowed", "only GET\n");
    return;
  }
  target = target.substr(0, target.find('?'));
  std::optional<std::string> body = handler_(target);
  if (!body) {
    respond(c, 404, "Not Found", "not found\n");
    return;
  }
  counters_.answered++;
  respond(c, 200, "OK", *body, kMetricsType);
}

void HttpServer::respond(Conn& c, int code, std::string_view reason, std::string_view body,
                         std::string_view type) {
  if (code != 200) {
    counters_.rejected++;
  }
  c.answered = true;
  std::string head = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) +
                     "\r\nContent-Type: " + std::string(type) +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
  c.tcp->write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(head.data()),
                                             head.size()),
               std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()),
                                             body.size()));
  c.tcp->closeWhenSent("answered");
}

void HttpServer::onTimer() {
  Instant now = Clock::now();
  for (auto& c : conns_) {
    if (!c.answered && now >= c.deadline) {
      counters_.timed_out++;
      c.answered = true;
      c.tcp->close("request not complete in time");  // on_closed erases it later
    }
  }
  arm();
}

void HttpServer::arm() {
  Instant next = kNever;
  for (const auto& c : conns_) {
    if (!c.answered) {
      next = std::min(next, c.deadline);
    }
  }
  if (next != kNever) {
    timer_.armAt(next);
  }
}

}  // namespace vpn::net
