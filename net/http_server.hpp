#pragma once
// HttpServer: a deliberately small HTTP/1.1 server for the metrics endpoints. GET only, one
// request per connection (answered, then closed), and everything bounded: the request line and
// headers at most Limits::max_request bytes and complete within Limits::timeout, at most
// Limits::max_connections at once (more are closed at accept). A request too large gets 431, a
// malformed one 400, another method 405, an unknown path 404; a slow one is closed after the
// timeout. The handler gives the body for a path, or nullopt for 404.
//
// Ownership: owns its listener and connections. Lifetime: the loop must outlive it. Threading:
// loop thread only; the handler runs on it. Errors: listen() throws NetError with one sentence
// (e.g. the port is in use); nothing after that throws.
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/time.hpp"
#include "net/tcp_connection.hpp"
#include "net/tcp_listener.hpp"
#include "net/timer.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::net {

class HttpServer {
 public:
  using Handler = std::function<std::optional<std::string>(std::string_view path)>;
  struct Limits {
    std::size_t max_request = 4096;
    Duration timeout = seconds(5);
    std::size_t max_connections = 16;
  };
  struct Counters {
    std::uint64_t answered = 0;      // 200
    std::uint64_t rejected = 0;      // 400, 404, 405, 431
    std::uint64_t timed_out = 0;
    std::uint64_t refused = 0;       // closed at accept: max_connections were open
  };

  static std::unique_ptr<HttpServer> listen(uv_loop_t& loop, const protocol::Endpoint& bind,
                                            Handler handler, Limits limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const protocol::Endpoint& localEndpoint() const { return listener_->localEndpoint(); }
  const Counters& counters() const { return counters_; }
  std::size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    std::unique_ptr<TcpConnection> tcp;
    std::string request;
    Instant deadline;
    bool answered = false;
  };
  HttpServer(uv_loop_t& loop, Handler handler, Limits limits);
  void onAccept(std::unique_ptr<TcpConnection> c);
  void onData(std::list<Conn>::iterator it, std::span<std::uint8_t> bytes);
  void respond(Conn& c, int code, std::string_view reason, std::string_view body,
               std::string_view type = "text/plain; charset=utf-8");
  void onTimer();
  void arm();

  uv_loop_t& loop_;
  Handler handler_;
  Limits limits_;
  std::unique_ptr<TcpListener> listener_;
  std::list<Conn> conns_;
  Timer timer_;
  Counters counters_;
};

}  // namespace vpn::net
