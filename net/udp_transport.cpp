#include "net/udp_transport.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
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
                               ReceiveHandler on_batch, bool gso, bool gro)
    : fd_(fd),
      v6_(v6),
      max_datagram_(max_datagram),
      on_batch_(std::move(on_batch)),
      gso_(gso),
      gro_(gro),
      rx_slot_(gro ? kGroSlot : max_datagram) {
  // Neither is value-initialised: untouched pages of the 4 MiB GRO buffers and of the 2.3 MiB send
  // ring stay out of resident memory, and start-up does not fault them all in (about 10 ms on a
  // VM where a page fault is slow: the first packet waits for it).
  rx_buf_.reset(new std::uint8_t[kBatch * rx_slot_]);
  rx_addr_.resize(kBatch);
  rx_iov_.resize(kBatch);
  rx_msgs_.resize(kBatch);
  rx_cmsg_.resize(kBatch);
  rx_batch_.resize(gro ? kBatch * kMaxGsoSegments : kBatch);
  tx_buf_.reset(new std::uint8_t[kSendQueue * max_datagram_]);
  tx_addr_.resize(kSendQueue);
  tx_addr_len_.resize(kSendQueue);
  tx_iov_.resize(kSendQueue);
  tx_msgs_.resize(kBatch);
  tx_msg_slots_.resize(kBatch);
  tx_cmsg_.resize(kBatch);
  for (std::size_t i = 0; i < kSendQueue; ++i) {
    tx_iov_[i].iov_base = tx_buf_.get() + i * max_datagram_;
  }
}

std::unique_ptr<UvUdpTransport> UvUdpTransport::open(uv_loop_t& loop,
                                                     const protocol::Endpoint& listen,
                                                     std::size_t max_datagram,
                                                     ReceiveHandler on_batch,
                                                     UdpOffloads want) {
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
  // GSO needs nothing from the socket; asking for its size tells whether the kernel has it.
  int seg = 0;
  socklen_t seg_len = sizeof seg;
  const bool gso = want.gso && ::getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &seg_len) == 0;
  int on = 1;
  const bool gro = want.gro && ::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  // Construct before starting the poll so a failure below closes the fd exactly once.
  std::unique_ptr<UvUdpTransport> t(
      new UvUdpTransport(fd, v6, max_datagram, std::move(on_batch), gso, gro));
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
      rx_iov_[i].iov_base = rx_buf_.get() + i * rx_slot_;
      rx_iov_[i].iov_len = rx_slot_;
      msghdr& h = rx_msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &rx_addr_[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &rx_iov_[i];
      h.msg_iovlen = 1;
      if (gro_) {
        h.msg_control = rx_cmsg_[i].bytes.data();
        h.msg_controllen = rx_cmsg_[i].bytes.size();
      }
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
      count = collect(i, count);
    }
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

std::size_t UvUdpTransport::collect(std::size_t i, std::size_t count) {
  const mmsghdr& m = rx_msgs_[i];
  auto from = fromSockaddr(rx_addr_[i], m.msg_hdr.msg_namelen);
  if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || !from) {
    ++stats_.rx_errors;
    return count;
  }
  std::size_t segment = m.msg_len;
  if (gro_) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&m.msg_hdr), c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0) {
          segment = static_cast<std::size_t>(size);
        }
      }
    }
  }
  auto* base = static_cast<std::uint8_t*>(rx_iov_[i].iov_base);
  std::size_t pieces = 0;
  for (std::size_t off = 0; off < m.msg_len; off += segment) {
    if (count == rx_batch_.size()) {
      ++stats_.rx_errors;  // more than 64 segments in one entry (the kernel's limit); not kept
      break;
    }
    std::size_t len = std::min(segment, m.msg_len - off);
    if (len > max_datagram_) {
      ++stats_.rx_errors;  // larger than any datagram we accept
      continue;
    }
    rx_batch_[count].from = *from;
    rx_batch_[count].data = std::span<std::uint8_t>(base + off, len);
    stats_.rx_bytes += len;
    ++stats_.rx_packets;
    ++count;
    ++pieces;
  }
  if (m.msg_len == 0 && count < rx_batch_.size()) {  // an empty datagram is still one
    rx_batch_[count].from = *from;
    rx_batch_[count].data = std::span<std::uint8_t>(base, 0);
    ++stats_.rx_packets;
    ++count;
  }
  if (pieces > 1) {
    ++stats_.rx_gro_reads;
    stats_.rx_gro_datagrams += pieces;
  }
  return count;
}

void UvUdpTransport::send(const protocol::Endpoint& to, std::span<const std::uint8_t> bytes) {
  auto slot = queueSlot(to, bytes.size());
  if (!slot) {
    return;  // counted
  }
  std::memcpy(tx_iov_[*slot].iov_base, bytes.data(), bytes.size());
  if (tx_count_ >= kBatch && !want_writable_) {
    flush();
  }
}

std::span<std::uint8_t> UvUdpTransport::reserve(const protocol::Endpoint& to, std::size_t len) {
  auto slot = queueSlot(to, len);
  if (!slot) {
    return {};
  }
  return {static_cast<std::uint8_t*>(tx_iov_[*slot].iov_base), len};
}

std::optional<std::size_t> UvUdpTransport::queueSlot(const protocol::Endpoint& to,
                                                     std::size_t len) {
  if (fd_ < 0 || len > max_datagram_) {
    ++stats_.tx_dropped;
    return std::nullopt;
  }
  if (to.address().isV6() && !v6_) {
    ++stats_.tx_errors;  // an IPv4 socket cannot reach an IPv6 peer
    return std::nullopt;
  }
  // A full batch goes out before this one is queued: the slot we hand out is written by the
  // caller after we return, so it must not be sent by a flush inside this call.
  if (tx_count_ >= kBatch && !want_writable_) {
    flush();
  }
  if (tx_count_ == kSendQueue) {
    flush();
    if (tx_count_ == kSendQueue) {
      ++stats_.tx_dropped;
      return std::nullopt;
    }
  }
  std::size_t slot = (tx_head_ + tx_count_) % kSendQueue;
  tx_iov_[slot].iov_len = len;
  tx_addr_len_[slot] = toSockaddr(to, tx_addr_[slot], v6_);
  ++tx_count_;
  return slot;
}

bool UvUdpTransport::sameDestination(std::size_t a, std::size_t b) const {
  return tx_addr_len_[a] == tx_addr_len_[b] &&
         std::memcmp(&tx_addr_[a], &tx_addr_[b], tx_addr_len_[a]) == 0;
}

bool UvUdpTransport::gsoAllowed(std::size_t slot) const {
  if (!gso_) {
    return false;
  }
  for (std::size_t i = 0; i < gso_refused_.size(); ++i) {
    if (gso_refused_len_[i] == tx_addr_len_[slot] &&
        std::memcmp(&gso_refused_[i], &tx_addr_[slot], tx_addr_len_[slot]) == 0) {
      return false;
    }
  }
  return true;
}

void UvUdpTransport::refuseGso(std::size_t slot, int err) {
  auto to = fromSockaddr(tx_addr_[slot], tx_addr_len_[slot]);
  if (gso_refused_.size() + 1 >= kMaxGsoRefusals) {
    gso_ = false;
    LOG_WARN("UDP GSO refused for %zu destinations (last %s: %s); sending without it",
             gso_refused_.size() + 1, to ? to->toString().c_str() : "?", std::strerror(err));
    return;
  }
  gso_refused_.push_back(tx_addr_[slot]);
  gso_refused_len_.push_back(tx_addr_len_[slot]);
  LOG_WARN("UDP GSO refused towards %s (%s); sending there without it",
           to ? to->toString().c_str() : "?", std::strerror(err));
}

void UvUdpTransport::flush() {
  if (before_flush_ && tx_count_ > 0 && fd_ >= 0) {
    before_flush_();
  }
  while (tx_count_ > 0 && fd_ >= 0) {
    // Entries over the contiguous run from tx_head_ (the ring wraps at most once).
    const std::size_t end = tx_head_ + std::min(tx_count_, kSendQueue - tx_head_);
    std::size_t msgs = 0;
    for (std::size_t slot = tx_head_; slot < end && msgs < kBatch; ++msgs) {
      const std::size_t size = tx_iov_[slot].iov_len;
      std::size_t run = 1, bytes = size;
      if (gsoAllowed(slot)) {
        // Equal sizes; a shorter one may end the run (the kernel's rule for the last segment).
        while (slot + run < end && run < kMaxGsoSegments && sameDestination(slot, slot + run)) {
          const std::size_t next = tx_iov_[slot + run].iov_len;
          if (next > size || next == 0 || bytes + next > kMaxGsoBytes) {
            break;
          }
          bytes += next;
          ++run;
          if (next < size) {
            break;
          }
        }
      }
      msghdr& h = tx_msgs_[msgs].msg_hdr;
      h = msghdr{};
      h.msg_name = &tx_addr_[slot];
      h.msg_namelen = tx_addr_len_[slot];
      h.msg_iov = &tx_iov_[slot];
      h.msg_iovlen = run;
      if (run > 1) {
        h.msg_control = tx_cmsg_[msgs].bytes.data();
        h.msg_controllen = CMSG_SPACE(sizeof(std::uint16_t));
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
        auto seg = static_cast<std::uint16_t>(size);
        std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      tx_msg_slots_[msgs] = run;
      slot += run;
    }
    int sent = ::sendmmsg(fd_, tx_msgs_.data(), static_cast<unsigned>(msgs), MSG_DONTWAIT);
    if (sent < 0) {
      int err = errno;
      if (err == EINTR) {
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        setWantWritable(true);
        return;
      }
      if (tx_msg_slots_[0] > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
        refuseGso(tx_head_, err);  // the same datagrams go again, one by one
        continue;
      }
      // The first datagram was refused (unreachable, bad address, too big): drop it, go on.
      stats_.tx_errors += tx_msg_slots_[0];
      tx_head_ = (tx_head_ + tx_msg_slots_[0]) % kSendQueue;
      tx_count_ -= tx_msg_slots_[0];
      continue;
    }
    if (sent == 0) {
      setWantWritable(true);
      return;
    }
    ++stats_.tx_batches;
    std::size_t done = 0;
    for (std::size_t k = 0; k < static_cast<std::size_t>(sent); ++k) {
      if (tx_msg_slots_[k] > 1) {
        ++stats_.tx_gso_sends;
        stats_.tx_gso_datagrams += tx_msg_slots_[k];
      }
      for (std::size_t i = 0; i < tx_msg_slots_[k]; ++i) {
        stats_.tx_bytes += tx_iov_[tx_head_ + done + i].iov_len;
      }
      done += tx_msg_slots_[k];
    }
    stats_.tx_packets += done;
    tx_head_ = (tx_head_ + done) % kSendQueue;
    tx_count_ -= done;
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

namespace {

bool setPmtuMode(int fd, bool v6, int v4_mode, int v6_mode) {
  bool ok = ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4_mode, sizeof v4_mode) == 0;
  if (v6) {
    ok = ::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6_mode, sizeof v6_mode) == 0 && ok;
  }
  return ok;
}

}  // namespace

bool UvUdpTransport::setPathMtuProbing(bool on) {
  if (fd_ < 0) {
    return false;
  }
  if (!on) {
    pmtu_probe_ = false;
    return setPmtuMode(fd_, v6_, IP_PMTUDISC_WANT, IPV6_PMTUDISC_WANT);
  }
  pmtu_probe_ = setPmtuMode(fd_, v6_, IP_PMTUDISC_PROBE, IPV6_PMTUDISC_PROBE);
  return pmtu_probe_;
}

void UvUdpTransport::sendFragmentable(const protocol::Endpoint& to,
                                      std::span<const std::uint8_t> bytes) {
  if (!pmtu_probe_) {
    send(to, bytes);
    return;
  }
  flush();
  if (fd_ < 0 || (to.address().isV6() && !v6_)) {
    ++stats_.tx_dropped;
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = toSockaddr(to, ss, v6_);
  // The mode is the socket's, so it is changed around this one send (rare: see the header).
  (void)setPmtuMode(fd_, v6_, IP_PMTUDISC_DONT, IPV6_PMTUDISC_DONT);
  ssize_t n = ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  (void)setPmtuMode(fd_, v6_, IP_PMTUDISC_PROBE, IPV6_PMTUDISC_PROBE);
  if (n < 0) {
    ++stats_.tx_errors;
    return;
  }
  ++stats_.tx_packets;
  stats_.tx_bytes += bytes.size();
}

}  // namespace vpn::net
