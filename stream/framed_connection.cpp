#include "stream/framed_connection.hpp"

#include <array>
#include <cstring>

#include "net/net_error.hpp"

namespace vpn::stream {
namespace {

constexpr std::size_t kPlainChunk = 16 * 1024;  // one TLS record's worth of plaintext
// Room in the TCP queue above kSendLimit for TLS's own bytes (handshake, alerts, key updates),
// so ciphertext that TLS has already produced is never refused.
constexpr std::size_t kTlsSlack = 256 * 1024;

// Worst case TLS 1.3 adds per write: per 16 KiB record a 5-byte header, the content type byte
// and a 16-byte tag; rounded up.
std::size_t tlsOverhead(std::size_t plain) { return (plain / 16384 + 1) * 32; }

// Scratch for the send path only; nothing in it outlives one send().
std::uint8_t* frameScratch() {
  thread_local std::unique_ptr<std::uint8_t[]> buf =
      std::make_unique_for_overwrite<std::uint8_t[]>(kFrameHeaderSize + kMaxFrame);
  return buf.get();
}

std::uint8_t* cipherScratch() {
  thread_local std::unique_ptr<std::uint8_t[]> buf =
      std::make_unique_for_overwrite<std::uint8_t[]>(kPlainChunk + 512);
  return buf.get();
}

}  // namespace

FramedConnection::FramedConnection(std::unique_ptr<net::TcpConnection> tcp,
                                   crypto::TlsStreamContext* tls, bool outbound,
                                   Callbacks callbacks)
    : tcp_(std::move(tcp)), cb_(std::move(callbacks)), outbound_(outbound) {
  if (tls != nullptr) {
    tls_ = std::make_unique<crypto::TlsStream>(*tls);
    plain_buf_ = std::make_unique_for_overwrite<std::uint8_t[]>(kPlainChunk);
    tcp_->setSendLimit(kSendLimit + kTlsSlack);
  } else {
    tcp_->setSendLimit(kSendLimit);
  }
}

void FramedConnection::setSendLimit(std::size_t bytes) {
  send_limit_ = bytes;
  tcp_->setSendLimit(tls_ ? bytes + kTlsSlack : bytes);
}

FramedConnection::~FramedConnection() {
  if (alive_ != nullptr) {
    *alive_ = false;
  }
}

std::unique_ptr<FramedConnection> FramedConnection::connect(uv_loop_t& loop,
                                                            const protocol::Endpoint& to,
                                                            crypto::TlsStreamContext* tls,
                                                            Duration timeout, Callbacks callbacks) {
  if (tls != nullptr && tls->isServer()) {
    throw net::NetError("an outbound TLS connection needs a client TLS context");
  }
  auto tcp = net::TcpConnection::connect(loop, to, timeout, {});
  std::unique_ptr<FramedConnection> c(
      new FramedConnection(std::move(tcp), tls, true, std::move(callbacks)));
  c->tcp_->start(c->tcpCallbacks());  // outbound: only installs the callbacks
  if (c->tls_) {
    c->pumpTls();  // the ClientHello waits in the TCP queue for the connect
    c->armHandshakeTimer(loop, timeout);
  }
  return c;
}

std::unique_ptr<FramedConnection> FramedConnection::accept(std::unique_ptr<net::TcpConnection> tcp,
                                                           crypto::TlsStreamContext* tls,
                                                           Duration handshake_timeout,
                                                           Callbacks callbacks) {
  if (tls != nullptr && !tls->isServer()) {
    throw net::NetError("an accepted TLS connection needs a server TLS context");
  }
  uv_loop_t& loop = tcp->loop();
  std::unique_ptr<FramedConnection> c(
      new FramedConnection(std::move(tcp), tls, false, std::move(callbacks)));
  if (!c->tls_) {
    c->established_ = true;
  } else {
    c->armHandshakeTimer(loop, handshake_timeout);
  }
  c->tcp_->start(c->tcpCallbacks());
  return c;
}

net::TcpConnection::Callbacks FramedConnection::tcpCallbacks() {
  net::TcpConnection::Callbacks cb;
  cb.on_connected = [this] { onTcpConnected(); };
  cb.on_data = [this](std::span<std::uint8_t> bytes) { onTcpData(bytes); };
  cb.on_closed = [this](const std::string& reason) { onTcpClosed(reason); };
  return cb;
}

void FramedConnection::armHandshakeTimer(uv_loop_t& loop, Duration timeout) {
  if (timeout <= Duration::zero()) {
    return;
  }
  handshake_timer_ = std::make_unique<net::Timer>(loop, [this] {
    if (!established_) {
      tcp_->close("timed out");
    }
  });
  handshake_timer_->armAt(Clock::now() + timeout);
}

const protocol::Endpoint& FramedConnection::remote() const { return tcp_->remote(); }
bool FramedConnection::closed() const { return tcp_->closed(); }

std::size_t FramedConnection::queuedBytes() const {
  std::size_t n = tcp_->queuedBytes();
  if (tls_) {
    n += tls_->pendingPlaintext() + tls_->pendingCiphertext() + tls_batch_.size();
  }
  return n;
}

void FramedConnection::cork() { tcp_->cork(); }

void FramedConnection::uncork() {
  if (tls_ && !tls_batch_.empty() && !closed()) {
    bool ok = tls_->writePlaintext(tls_batch_);
    tls_batch_.clear();
    if (ok) {
      pumpTls();
    }
  }
  tls_batch_.clear();
  if (!closed()) {
    tcp_->uncork();
  }
}

bool FramedConnection::send(std::span<const std::uint8_t> datagram) {
  std::array<std::uint8_t, kFrameHeaderSize> header{};
  if (closed() || !encodeFrameHeader(datagram.size(), header)) {
    ++stats_.refused_sends;
    return false;
  }
  const std::size_t framed = kFrameHeaderSize + datagram.size();
  const std::size_t need = framed + (tls_ ? tlsOverhead(framed) : 0);
  if (queuedBytes() + need > send_limit_) {
    ++stats_.refused_sends;
    return false;
  }
  bool ok = false;
  if (!tls_) {
    ok = tcp_->write(header, datagram);
  } else if (tcp_->corked() && established_) {
    // Gathered into records of up to 16 KiB; written at uncork() or when a record is full.
    tls_batch_.insert(tls_batch_.end(), header.begin(), header.end());
    tls_batch_.insert(tls_batch_.end(), datagram.begin(), datagram.end());
    ok = true;
    if (tls_batch_.size() >= kPlainChunk) {
      ok = tls_->writePlaintext(tls_batch_);
      tls_batch_.clear();
      if (ok) {
        pumpTls();
        ok = !closed();
      }
    }
  } else {
    // One write, so header and datagram share TLS records.
    std::uint8_t* buf = frameScratch();
    std::memcpy(buf, header.data(), kFrameHeaderSize);
    std::memcpy(buf + kFrameHeaderSize, datagram.data(), datagram.size());
    ok = tls_->writePlaintext(std::span<const std::uint8_t>(buf, framed));
    if (ok) {
      pumpTls();
      ok = !closed();
    }
  }
  if (!ok) {
    ++stats_.refused_sends;
    return false;
  }
  ++stats_.frames_out;
  stats_.bytes_out += datagram.size();
  return true;
}

void FramedConnection::close(const std::string& reason) { tcp_->close(reason); }

void FramedConnection::pumpTls() {
  std::uint8_t* buf = cipherScratch();
  while (!closed()) {
    std::size_t n = tls_->drainCiphertext(std::span<std::uint8_t>(buf, kPlainChunk + 512));
    if (n == 0) {
      return;
    }
    if (!tcp_->write(std::span<const std::uint8_t>(buf, n))) {
      tcp_->close("send queue overflow");  // TLS output cannot be dropped without corrupting
      return;
    }
  }
}

void FramedConnection::becomeEstablished() {
  established_ = true;
  if (handshake_timer_) {
    handshake_timer_->cancel();
  }
  if (cb_.on_established) {
    cb_.on_established(*this);
  }
}

void FramedConnection::onTcpConnected() {
  if (!tls_) {
    becomeEstablished();  // last: the owner may destroy us
  }
}

bool FramedConnection::deliver(std::span<std::uint8_t> bytes) {
  bool* alive = alive_;
  auto status = decoder_.feed(bytes, [&](std::span<std::uint8_t> frame) {
    ++stats_.frames_in;
    stats_.bytes_in += frame.size();
    if (cb_.on_datagram) {
      cb_.on_datagram(*this, frame);
    }
    return *alive && !closed();
  });
  if (!*alive) {
    return false;
  }
  if (status == FrameDecoder::Status::kError) {
    tcp_->close("protocol error: zero-length frame");
  }
  return !closed();
}

void FramedConnection::onTcpData(std::span<std::uint8_t> bytes) {
  bool alive = true;
  alive_ = &alive;
  if (!tls_) {
    deliver(bytes);
    if (alive) {
      alive_ = nullptr;
    }
    return;
  }
  tls_->feedCiphertext(bytes);
  while (!closed()) {
    std::size_t n = tls_->readPlaintext(std::span<std::uint8_t>(plain_buf_.get(), kPlainChunk));
    if (!established_ && tls_->established()) {
      pumpTls();  // the server's held datagrams, the client's Finished
      becomeEstablished();
      if (!alive) {
        return;
      }
    }
    if (n == 0) {
      break;
    }
    if (!deliver(std::span<std::uint8_t>(plain_buf_.get(), n))) {
      if (!alive) {
        return;
      }
      break;
    }
  }
  alive_ = nullptr;
  if (closed()) {
    return;
  }
  pumpTls();  // handshake replies, alerts, key updates
  if (tls_->state() == crypto::TlsStream::State::kFailed) {
    tcp_->close("TLS failed: " + tls_->failureReason());
  } else if (tls_->state() == crypto::TlsStream::State::kClosed) {
    tcp_->close("TLS closed by peer");
  }
}

void FramedConnection::onTcpClosed(const std::string& reason) {
  if (handshake_timer_) {
    handshake_timer_->cancel();
  }
  auto on_closed = std::move(cb_.on_closed);
  if (on_closed) {
    on_closed(*this, reason);  // last: the owner may destroy us
  }
}

}  // namespace vpn::stream
