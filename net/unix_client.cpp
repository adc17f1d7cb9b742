#include "net/unix_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/net_error.hpp"

namespace vpn::net {
namespace {

constexpr std::size_t kMaxResponse = 16 * 1024 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for events on fd until deadline; false on timeout.
bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) {
      return true;
    }
    if (r < 0 && errno != EINTR) {
      return true;  // let the following read/write report the error
    }
  }
}

}  // namespace

std::string unixRequest(const std::filesystem::path& socket, std::string_view request_line,
                        std::chrono::milliseconds timeout) {
  const std::string path = socket.string();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw NetError("control socket path " + path + " is too long (at most " +
                   std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    throw NetError(std::string("cannot create a unix socket: ") + std::strerror(errno));
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      throw NetError("no vpnpeer is running (cannot connect to " + path + ": " +
                     std::strerror(err) + ")");
    }
    if (err == EACCES || err == EPERM) {
      throw NetError("cannot connect to " + path +
                     ": permission denied; the control socket is only for root (mode 0600)");
    }
    throw NetError("cannot connect to " + path + ": " + std::strerror(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string request(request_line);
  if (request.empty() || request.back() != '\n') {
    request.push_back('\n');
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    if (!waitFor(fd.get(), POLLOUT, deadline)) {
      throw NetError("vpnpeer did not accept the request within " +
                     std::to_string(timeout.count()) + " ms (control socket " + path + ")");
    }
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) {
        break;  // the server answered early (e.g. request too long); read its answer
      }
      throw NetError("cannot send the request to " + path + ": " + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[4096];
  for (;;) {
    if (!waitFor(fd.get(), POLLIN, deadline)) {
      throw NetError("vpnpeer did not answer within " + std::to_string(timeout.count()) +
                     " ms (control socket " + path + ")");
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      return response;
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      if (errno == ECONNRESET && !response.empty()) {
        return response;  // the server closed with our unread bytes pending; its answer is whole
      }
      throw NetError("cannot read the answer from " + path + ": " + std::strerror(errno));
    }
    response.append(buf, static_cast<std::size_t>(n));
    if (response.size() > kMaxResponse) {
      throw NetError("the answer from " + path + " is larger than 16 MiB; giving up");
    }
  }
}

}  // namespace vpn::net
