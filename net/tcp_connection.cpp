#include "net/tcp_connection.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "net/sockaddr.hpp"

namespace vpn::net {
namespace {

// A send buffer grown past this by a burst is given back once it drains.
constexpr std::size_t kKeepCapacity = 256 * 1024;

std::string reasonFor(int uv_error) {
  switch (uv_error) {
    case UV_ECONNREFUSED:
      return "connection refused";
    case UV_ETIMEDOUT:
      return "timed out";
    case UV_ECONNRESET:
      return "reset by peer";
    case UV_EOF:
    case UV_EPIPE:
      return "closed by peer";
    case UV_ENETUNREACH:
      return "network unreachable";
    case UV_EHOSTUNREACH:
      return "host unreachable";
    default:
      return std::string("connection error: ") + uv_strerror(uv_error);
  }
}

void releaseIfLarge(std::vector<std::uint8_t>& v) {
  if (v.empty() && v.capacity() > kKeepCapacity) {
    std::vector<std::uint8_t>().swap(v);
  }
}

}  // namespace

// Requests are freed by their callbacks once the connection has let go of them (owner null),
// because libuv calls them (with UV_ECANCELED) after the handle is closed.
struct TcpConnection::ConnectReq {
  uv_connect_t req{};
  TcpConnection* owner = nullptr;
};

struct TcpConnection::WriteReq {
  uv_write_t req{};
  TcpConnection* owner = nullptr;
  std::vector<std::uint8_t> data;  // the bytes in flight
};

TcpConnection::TcpConnection(uv_loop_t& loop, protocol::Endpoint remote)
    : loop_(loop),
      remote_(remote),
      write_req_(new WriteReq{}),
      read_buf_(std::make_unique_for_overwrite<std::uint8_t[]>(kReadBuffer)) {
  write_req_->owner = this;
  write_req_->req.data = write_req_;
}

void TcpConnection::initHandles() {
  int rc = tcp_.init([&](uv_tcp_t* t) { return uv_tcp_init(&loop_, t); });
  if (rc == 0) {
    tcp_->data = this;
    rc = timer_.init([&](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  }
  if (rc < 0) {
    throw NetError(std::string("cannot create a TCP connection: ") + uv_strerror(rc));
  }
  timer_->data = this;
  // Datagrams are latency-sensitive and already sized by the sender: no Nagle delay.
  (void)uv_tcp_nodelay(tcp_.get(), 1);
}

std::unique_ptr<TcpConnection> TcpConnection::connect(uv_loop_t& loop, const protocol::Endpoint& to,
                                                      Duration timeout, Callbacks callbacks) {
  std::unique_ptr<TcpConnection> c(new TcpConnection(loop, to));
  c->cb_ = std::move(callbacks);
  c->initHandles();
  sockaddr_storage ss{};
  toSockaddr(to, ss);
  c->connect_req_ = new ConnectReq{};
  c->connect_req_->owner = c.get();
  c->connect_req_->req.data = c->connect_req_;
  int rc = uv_tcp_connect(&c->connect_req_->req, c->tcp_.get(),
                          reinterpret_cast<const sockaddr*>(&ss), &TcpConnection::onConnect);
  if (rc < 0) {
    delete c->connect_req_;
    c->connect_req_ = nullptr;
    c->fail(rc);  // reported through on_closed on the next loop iteration
    return c;
  }
  if (timeout > Duration::zero()) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
    uv_update_time(&loop);
    uv_timer_start(c->timer_.get(), &TcpConnection::onTimer, static_cast<std::uint64_t>(ms), 0);
  }
  return c;
}

TcpConnection::~TcpConnection() {
  if (alive_ != nullptr) {
    *alive_ = false;
  }
  if (connect_req_ != nullptr) {
    connect_req_->owner = nullptr;
  }
  if (write_req_ != nullptr) {
    if (writing_) {
      write_req_->owner = nullptr;
    } else {
      delete write_req_;
    }
  }
  tcp_.reset();
  timer_.reset();
}

void TcpConnection::start(Callbacks callbacks) {
  cb_ = std::move(callbacks);
  if (connected_ && !reading_ && !closing_) {
    startReading();
  }
}

std::size_t TcpConnection::queuedBytes() const {
  return queue_.size() + (writing_ ? write_req_->data.size() : 0);
}

bool TcpConnection::write(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  const std::size_t total = a.size() + b.size();
  if (closing_ || queuedBytes() + total > send_limit_) {
    ++stats_.refused_writes;
    return false;
  }
  if (total == 0) {
    return true;
  }
  if (connected_ && !writing_ && queue_.empty() && !corked_) {
    // Nothing waiting: hand the bytes to the kernel now and queue only what it leaves.
    uv_buf_t bufs[2];
    unsigned n = 0;
    for (auto part : {a, b}) {
      if (!part.empty()) {
        bufs[n++] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(part.data())),
                                static_cast<unsigned>(part.size()));
      }
    }
    int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(tcp_.get()), bufs, n);
    std::size_t done = 0;
    if (rc > 0) {
      done = static_cast<std::size_t>(rc);
      stats_.tx_bytes += done;
    } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
      fail(rc);
      ++stats_.refused_writes;
      return false;
    }
    if (done == total) {
      return true;
    }
    std::size_t skip_a = std::min(done, a.size());
    a = a.subspan(skip_a);
    b = b.subspan(done - skip_a);
  }
  queue_.insert(queue_.end(), a.begin(), a.end());
  queue_.insert(queue_.end(), b.begin(), b.end());
  flushQueue();
  return true;
}

void TcpConnection::uncork() {
  corked_ = false;
  if (!connected_ || writing_ || closing_ || queue_.empty()) {
    return;  // a write in flight takes the queue when it completes; a connect, when it is made
  }
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(queue_.data()),
                             static_cast<unsigned>(queue_.size()));
  int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(tcp_.get()), &buf, 1);
  if (rc > 0) {
    auto done = static_cast<std::size_t>(rc);
    stats_.tx_bytes += done;
    if (done == queue_.size()) {
      queue_.clear();
      return;
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(done));
  } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    fail(rc);
    return;
  }
  flushQueue();
}

void TcpConnection::flushQueue() {
  if (!connected_ || writing_ || closing_ || queue_.empty() || corked_) {
    return;
  }
  write_req_->data.swap(queue_);
  queue_.clear();
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(write_req_->data.data()),
                             static_cast<unsigned>(write_req_->data.size()));
  int rc = uv_write(&write_req_->req, reinterpret_cast<uv_stream_t*>(tcp_.get()), &buf, 1,
                    &TcpConnection::onWrite);
  if (rc < 0) {
    write_req_->data.clear();
    fail(rc);
    return;
  }
  writing_ = true;
}

void TcpConnection::close(const std::string& reason) {
  if (closing_) {
    return;
  }
  closing_ = true;
  connected_ = false;
  close_reason_ = reason;
  if (connect_req_ != nullptr) {
    connect_req_->owner = nullptr;  // its cancelled callback frees it
    connect_req_ = nullptr;
  }
  if (writing_) {
    write_req_->owner = nullptr;  // likewise
    write_req_ = nullptr;
    writing_ = false;
  }
  queue_.clear();
  releaseIfLarge(queue_);
  tcp_.reset();
  notifyClosedLater();
}

void TcpConnection::closeWhenSent(const std::string& reason) {
  if (closing_) {
    return;
  }
  if (corked_) {
    uncork();  // "sent" includes what waits for the batch to end
  }
  if (closing_) {
    return;  // the write failed
  }
  if (!writing_ && queue_.empty()) {
    close(reason);
    return;
  }
  close_when_sent_ = true;
  close_reason_ = reason;
  if (reading_ && tcp_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_.get()));
    reading_ = false;
  }
}

void TcpConnection::fail(int uv_error) { close(reasonFor(uv_error)); }

void TcpConnection::notifyClosedLater() {
  if (!timer_) {
    return;
  }
  uv_timer_stop(timer_.get());
  uv_timer_start(timer_.get(), &TcpConnection::onTimer, 0, 0);
}

void TcpConnection::startReading() {
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_.get()), &TcpConnection::onAlloc,
                         &TcpConnection::onRead);
  if (rc < 0) {
    fail(rc);
    return;
  }
  reading_ = true;
}

void TcpConnection::onConnect(uv_connect_t* req, int status) {
  auto* cr = static_cast<ConnectReq*>(req->data);
  TcpConnection* self = cr->owner;
  delete cr;
  if (self == nullptr) {
    return;
  }
  self->connect_req_ = nullptr;
  if (status < 0) {
    self->fail(status);
    return;
  }
  self->connected_ = true;
  uv_timer_stop(self->timer_.get());
  self->startReading();
  self->flushQueue();
  if (!self->closing_ && self->cb_.on_connected) {
    self->cb_.on_connected();  // last: it may destroy us
  }
}

void TcpConnection::onAlloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buf_.get()),
                     static_cast<unsigned>(kReadBuffer));
}

void TcpConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<TcpConnection*>(stream->data);
  if (self == nullptr || self->closing_) {
    return;
  }
  if (nread > 0) {
    auto n = static_cast<std::size_t>(nread);
    self->stats_.rx_bytes += n;
    if (self->cb_.on_data) {
      bool alive = true;
      self->alive_ = &alive;
      self->cb_.on_data(std::span<std::uint8_t>(self->read_buf_.get(), n));
      if (alive) {
        self->alive_ = nullptr;
      }
    }
    return;
  }
  if (nread == 0) {
    return;  // EAGAIN
  }
  self->fail(static_cast<int>(nread));
}

void TcpConnection::onWrite(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  TcpConnection* self = w->owner;
  if (self == nullptr) {
    delete w;
    return;
  }
  self->writing_ = false;
  if (status < 0) {
    w->data.clear();
    self->fail(status);
    return;
  }
  self->stats_.tx_bytes += w->data.size();
  w->data.clear();
  releaseIfLarge(w->data);
  self->flushQueue();
  releaseIfLarge(self->queue_);
  if (self->close_when_sent_ && !self->writing_ && self->queue_.empty()) {
    self->close(self->close_reason_);
  }
}

void TcpConnection::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<TcpConnection*>(timer->data);
  if (self == nullptr) {
    return;
  }
  if (!self->closing_) {
    self->close("timed out");  // the connect timeout; the notification follows
    return;
  }
  auto on_closed = std::move(self->cb_.on_closed);
  std::string reason = self->close_reason_;
  self->cb_ = {};
  self->timer_.reset();
  if (on_closed) {
    on_closed(reason);  // last: the owner may destroy us
  }
}

}  // namespace vpn::net
