#include "net/udp_transport.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "base/log.hpp"
#include "net/sockaddr.hpp"

namespace vpn::net {
namespace {

void setBuffer(int fd, int force_opt, int opt, int bytes) {
  // As root, *FORCE ignores net.core.{r,w}mem_max; otherwise the kernel caps the request.
  if (::setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) {
    return;
  }
  (void)::setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

[[noreturn]] void throwBindError(int err, const protocol::Endpoint& listen) {
  const std::string port = std::to_string(listen.port());
  const std::string addr = listen.address().toString();
  if (err == EADDRINUSE) {
    throw NetError("UDP port " + port + " on " + addr +
                   " is already in use; stop the other program or change [peer] listen");
  }
  if (err == EADDRNOTAVAIL) {
    throw NetError("cannot listen on UDP " + listen.toString() +
                   ": no local interface has address " + addr + "; change [peer] listen");
  }
  if (err == EACCES || err == EPERM) {
    throw NetError("cannot listen on UDP " + listen.toString() +
                   ": permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); "
                   "change [peer] listen");
  }
  throw NetError("cannot listen on UDP " + listen.toString() + ": " + std::strerror(err));
}

}  // namespace

UvUdpTransport::UvUdpTransport(int fd, bool v6, std::size_t max_datagram,
                               ReceiveHandler on_batch)
    : fd_(fd), v6_(v6), max_datagram_(max_datagram), on_batch_(std::move(on_batch)) {
  rx_buf_.resize(kBatch * max_datagram_);
  rx_addr_.resize(kBatch);
  rx_iov_.resize(kBatch);
  rx_msgs_.resize(kBatch);
  rx_batch_.resize(kBatch);
  tx_buf_.resize(kSendQueue * max_datagram_);
  tx_addr_.resize(kSendQueue);
  tx_addr_len_.resize(kSendQueue);
  tx_iov_.resize(kSendQueue);
  tx_msgs_.resize(kSendQueue);
  for (std::size_t i = 0; i < kSendQueue; ++i) {
    tx_iov_[i].iov_base = tx_buf_.data() + i * max_datagram_;
    tx_msgs_[i].msg_hdr.msg_name = &tx_addr_[i];
    tx_msgs_[i].msg_hdr.msg_iov = &tx_iov_[i];
    tx_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

std::unique_ptr<UvUdpTransport> UvUdpTransport::open(uv_loop_t& loop,
                                                     const protocol::Endpoint& listen,
                                                     std::size_t max_datagram,
                                                     ReceiveHandler on_batch) {
  if (max_datagram == 0 || max_datagram > 65535) {
    throw NetError("invalid UDP datagram size " + std::to_string(max_datagram) +
                   "; it must be between 1 and 65535 bytes");
  }
  const bool v6 = listen.address().isV6();
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_UDP);
  if (fd < 0) {
    throw NetError(std::string("cannot create a UDP socket: ") + std::strerror(errno));
  }
  if (v6) {
    // "[::]" is dual stack; a specific IPv6 address only ever sees IPv6.
    int v6only = listen.address().isUnspecified() ? 0 : 1;
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, kSocketBuffer);
  setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, kSocketBuffer);
  sockaddr_storage ss{};
  socklen_t len = toSockaddr(listen, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    ::close(fd);
    throwBindError(err, listen);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  std::optional<protocol::Endpoint> local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
    local = fromSockaddr(bound, bound_len);
  }
  // Construct before starting the poll so a failure below closes the fd exactly once.
  std::unique_ptr<UvUdpTransport> t(
      new UvUdpTransport(fd, v6, max_datagram, std::move(on_batch)));
  // A dual-stack "[::]" socket reports "[::]"; keep the caller's spelling of the address.
  t->local_ = protocol::Endpoint(listen.address(), local ? local->port() : listen.port());
  int rc = t->poll_.init([&](uv_poll_t* p) { return uv_poll_init(&loop, p, fd); });
  if (rc < 0) {
    throw NetError(std::string("cannot watch the UDP socket: ") + uv_strerror(rc));
  }
  t->poll_->data = t.get();
  rc = uv_poll_start(t->poll_.get(), UV_READABLE, &UvUdpTransport::onPoll);
  if (rc < 0) {
    throw NetError(std::string("cannot watch the UDP socket: ") + uv_strerror(rc));
  }
  return t;
}

UvUdpTransport::~UvUdpTransport() {
  if (alive_ != nullptr) {
    *alive_ = false;
  }
  close();
}

void UvUdpTransport::close() {
  if (fd_ < 0) {
    return;
  }
  stats_.tx_dropped += tx_count_;
  tx_count_ = 0;
  if (poll_) {
    uv_poll_stop(poll_.get());
    poll_.setOnClosed([](int fd) { ::close(fd); }, fd_);
    poll_.reset();
  } else {
    ::close(fd_);
  }
  fd_ = -1;
}

void UvUdpTransport::onPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<UvUdpTransport*>(handle->data);
  if (self == nullptr) {
    return;
  }
  if (status < 0) {
    ++self->stats_.rx_errors;
    LOG_WARN("UDP socket poll error: %s", uv_strerror(status));
    return;
  }
  if ((events & UV_WRITABLE) != 0) {
    self->flush();
    if (self->fd_ < 0) {
      return;
    }
  }
  if ((events & UV_READABLE) != 0) {
    self->onReadable();
  }
}

void UvUdpTransport::onReadable() {
  bool alive = true;
  alive_ = &alive;
  for (std::size_t round = 0; round < kRecvBudget && fd_ >= 0; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      rx_iov_[i].iov_base = rx_buf_.data() + i * max_datagram_;
      rx_iov_[i].iov_len = max_datagram_;
      msghdr& h = rx_msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &rx_addr_[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &rx_iov_[i];
      h.msg_iovlen = 1;
      rx_msgs_[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd_, rx_msgs_.data(), static_cast<unsigned>(kBatch), MSG_DONTWAIT,
                       nullptr);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ++stats_.rx_errors;  // e.g. ECONNREFUSED from an ICMP error; the socket stays usable
      }
      break;
    }
    std::size_t count = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      const mmsghdr& m = rx_msgs_[i];
      auto from = fromSockaddr(rx_addr_[i], m.msg_hdr.msg_namelen);
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || !from) {
        ++stats_.rx_errors;
        continue;
      }
      rx_batch_[count].from = *from;
      rx_batch_[count].data = std::span<std::uint8_t>(
          static_cast<std::uint8_t*>(rx_iov_[i].iov_base), m.msg_len);
      stats_.rx_bytes += m.msg_len;
      ++count;
    }
    stats_.rx_packets += count;
    if (count > 0) {
      ++stats_.rx_batches;
      on_batch_(std::span<ReceivedDatagram>(rx_batch_.data(), count));
      if (!alive) {
        return;  // the handler destroyed us
      }
    }
    if (static_cast<std::size_t>(n) < kBatch) {
      break;  // drained
    }
  }
  alive_ = nullptr;
}

void UvUdpTransport::send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  if (fd_ < 0 || bytes.size() > max_datagram_) {
    ++stats_.tx_dropped;
    return;
  }
  if (to.address().isV6() && !v6_) {
    ++stats_.tx_errors;  // an IPv4 socket cannot reach an IPv6 peer
    return;
  }
  if (tx_count_ == kSendQueue) {
    flush();
    if (tx_count_ == kSendQueue) {
      ++stats_.tx_dropped;
      return;
    }
  }
  std::size_t slot = (tx_head_ + tx_count_) % kSendQueue;
  std::memcpy(tx_iov_[slot].iov_base, bytes.data(), bytes.size());
  tx_iov_[slot].iov_len = bytes.size();
  tx_addr_len_[slot] = toSockaddr(to, tx_addr_[slot], v6_);
  ++tx_count_;
  if (tx_count_ >= kBatch && !want_writable_) {
    flush();
  }
}

void UvUdpTransport::flush() {
  while (tx_count_ > 0 && fd_ >= 0) {
    // Send the contiguous run from tx_head_ (the ring wraps at most once).
    std::size_t n = std::min({tx_count_, kBatch, kSendQueue - tx_head_});
    for (std::size_t i = tx_head_; i < tx_head_ + n; ++i) {
      msghdr& h = tx_msgs_[i].msg_hdr;
      h.msg_namelen = tx_addr_len_[i];
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
    }
    int sent = ::sendmmsg(fd_, &tx_msgs_[tx_head_], static_cast<unsigned>(n), MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        setWantWritable(true);
        return;
      }
      // The first datagram was refused (unreachable, bad address, too big): drop it, go on.
      ++stats_.tx_errors;
      tx_head_ = (tx_head_ + 1) % kSendQueue;
      --tx_count_;
      continue;
    }
    if (sent == 0) {
      setWantWritable(true);
      return;
    }
    ++stats_.tx_batches;
    for (std::size_t i = tx_head_; i < tx_head_ + static_cast<std::size_t>(sent); ++i) {
      stats_.tx_bytes += tx_iov_[i].iov_len;
    }
    stats_.tx_packets += static_cast<std::uint64_t>(sent);
    tx_head_ = (tx_head_ + static_cast<std::size_t>(sent)) % kSendQueue;
    tx_count_ -= static_cast<std::size_t>(sent);
  }
  if (tx_count_ == 0) {
    tx_head_ = 0;
    setWantWritable(false);
  }
}

void UvUdpTransport::setWantWritable(bool want) {
  if (want == want_writable_ || !poll_) {
    return;
  }
  want_writable_ = want;
  int events = UV_READABLE | (want ? UV_WRITABLE : 0);
  int rc = uv_poll_start(poll_.get(), events, &UvUdpTransport::onPoll);
  if (rc < 0) {
    LOG_WARN("cannot change UDP poll events: %s", uv_strerror(rc));
  }
}

}  // namespace vpn::net
