#include "net/unix_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "base/log.hpp"
#include "net/net_error.hpp"

namespace vpn::net {
namespace {

constexpr int kBacklog = 16;

struct WriteReq {
  uv_write_t req;  // first member: uv_write_t* converts back to WriteReq*
  std::string data;
};

// True if something accepts connections on path (a live daemon).
bool someoneListens(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string alreadyRunning(const std::string& path) {
  return "another vpnpeer is already running with control socket " + path;
}

// Creates the socket's directory if missing; true if it did.
bool prepareParent(const std::filesystem::path& path) {
  auto parent = path.parent_path();
  if (parent.empty()) {
    return false;
  }
  std::error_code ec;
  if (std::filesystem::exists(parent, ec)) {
    return false;
  }
  std::filesystem::create_directories(parent, ec);
  if (!ec) {
    using std::filesystem::perms;
    std::filesystem::permissions(parent,
                                 perms::owner_all | perms::group_read | perms::group_exec |
                                     perms::others_read | perms::others_exec,
                                 ec);
  }
  if (ec) {
    throw NetError("cannot create directory " + parent.string() + " for the control socket: " +
                   ec.message());
  }
  return true;
}

void removeStale(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return;  // nothing there
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw NetError(path + " exists and is not a socket; remove it or choose another control "
                          "socket path");
  }
  if (someoneListens(path)) {
    throw NetError(alreadyRunning(path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw NetError("cannot remove the stale control socket " + path + ": " +
                   std::strerror(errno));
  }
  LOG_INFO("removed stale control socket %s", path.c_str());
}

}  // namespace

struct UnixServer::Connection {
  explicit Connection(UnixServer& s) : server(s) {}
  ~Connection() {
    if (alive != nullptr) {
      *alive = false;
    }
  }
  UnixServer& server;
  UvHandle<uv_pipe_t> pipe;
  UvHandle<uv_timer_t> timer;
  std::array<char, kMaxRequest + 1> buf{};  // the request line plus its '\n'
  std::size_t used = 0;
  bool responded = false;
  bool* alive = nullptr;  // set while the handler runs
  std::list<std::unique_ptr<Connection>>::iterator self;
};

UnixServer::UnixServer(uv_loop_t& loop, std::filesystem::path path, Handler handler,
                       std::chrono::milliseconds connection_timeout)
    : loop_(loop),
      path_(std::move(path)),
      handler_(std::move(handler)),
      connection_timeout_(connection_timeout) {}

std::unique_ptr<UnixServer> UnixServer::listen(uv_loop_t& loop, const std::filesystem::path& path,
                                               Handler handler) {
  return listen(loop, path, std::move(handler), kConnectionTimeout);
}

std::unique_ptr<UnixServer> UnixServer::listen(uv_loop_t& loop, const std::filesystem::path& path,
                                               Handler handler,
                                               std::chrono::milliseconds connection_timeout) {
  const std::string p = path.string();
  if (p.empty() || p.size() >= sizeof(sockaddr_un::sun_path)) {
    throw NetError("control socket path '" + p + "' must be 1 to " +
                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes long");
  }
  bool created_parent = prepareParent(path);
  removeStale(p);
  std::unique_ptr<UnixServer> s(
      new UnixServer(loop, path, std::move(handler), connection_timeout));
  s->created_parent_ = created_parent;
  int rc = s->listener_.init([&](uv_pipe_t* h) { return uv_pipe_init(&loop, h, 0); });
  if (rc < 0) {
    throw NetError(std::string("cannot create the control socket: ") + uv_strerror(rc));
  }
  s->listener_->data = s.get();
  rc = uv_pipe_bind(s->listener_.get(), p.c_str());
  if (rc == UV_EADDRINUSE) {
    throw NetError(alreadyRunning(p));  // lost a race with another daemon starting
  }
  if (rc < 0) {
    throw NetError("cannot create control socket " + p + ": " + uv_strerror(rc));
  }
  s->listening_ = true;  // from here on close() unlinks the file
  // Nobody can connect before uv_listen, so tightening the mode here leaves no window.
  if (::chmod(p.c_str(), 0600) != 0) {
    throw NetError("cannot set mode 0600 on control socket " + p + ": " + std::strerror(errno));
  }
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(s->listener_.get()), kBacklog,
                 &UnixServer::onConnection);
  if (rc < 0) {
    throw NetError("cannot listen on control socket " + p + ": " + uv_strerror(rc));
  }
  return s;
}

UnixServer::~UnixServer() { close(); }

std::string UnixServer::giveTo(unsigned uid, unsigned gid) {
  // The socket itself stays root's (mode 0600: only root may connect); removing it needs only
  // the right to write its directory.
  if (created_parent_ && ::chown(path_.parent_path().c_str(), uid, gid) != 0) {
    return "cannot hand " + path_.parent_path().string() + " over: " + std::strerror(errno);
  }
  return {};
}

void UnixServer::close() {
  connections_.clear();
  listener_.reset();
  if (listening_) {
    listening_ = false;
    if (::unlink(path_.c_str()) != 0) {
      if (errno == EACCES || errno == EPERM) {
        LOG_INFO("control socket %s stays behind: this unprivileged process may not remove it "
                 "from its directory (the next start removes it)",
                 path_.c_str());
      } else if (errno != ENOENT) {
        LOG_WARN("cannot remove control socket %s: %s", path_.c_str(), std::strerror(errno));
      }
    }
  }
}

void UnixServer::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<UnixServer*>(server->data);
  if (self == nullptr) {
    return;
  }
  if (status < 0) {
    LOG_WARN("control socket accept error: %s", uv_strerror(status));
    return;
  }
  self->accept();
}

void UnixServer::accept() {
  auto conn = std::make_unique<Connection>(*this);
  Connection& c = *conn;
  int rc = c.pipe.init([&](uv_pipe_t* h) { return uv_pipe_init(&loop_, h, 0); });
  if (rc == 0) {
    c.pipe->data = &c;
    rc = uv_accept(reinterpret_cast<uv_stream_t*>(listener_.get()),
                   reinterpret_cast<uv_stream_t*>(c.pipe.get()));
  }
  if (rc == 0) {
    rc = c.timer.init([&](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  }
  if (rc == 0) {
    c.timer->data = &c;
    rc = uv_timer_start(c.timer.get(), &UnixServer::onTimeout,
                        static_cast<std::uint64_t>(connection_timeout_.count()), 0);
  }
  if (rc == 0) {
    rc = uv_read_start(reinterpret_cast<uv_stream_t*>(c.pipe.get()), &UnixServer::onAlloc,
                       &UnixServer::onRead);
  }
  if (rc < 0) {
    LOG_WARN("cannot accept a control connection: %s", uv_strerror(rc));
    return;  // conn's destructor closes whatever was opened
  }
  connections_.push_back(std::move(conn));
  c.self = std::prev(connections_.end());
}

void UnixServer::onAlloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  if (c == nullptr || c->used >= c->buf.size()) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(c->buf.data() + c->used, static_cast<unsigned>(c->buf.size() - c->used));
}

void UnixServer::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* c = static_cast<Connection*>(stream->data);
  if (c == nullptr || c->responded) {
    return;
  }
  UnixServer& server = c->server;
  std::size_t line_end = c->used;
  bool complete = false;
  if (nread > 0) {
    std::size_t start = c->used;
    c->used += static_cast<std::size_t>(nread);
    for (std::size_t i = start; i < c->used; ++i) {
      if (c->buf[i] == '\n') {
        line_end = i;
        complete = true;
        break;
      }
    }
    if (!complete && c->used >= c->buf.size()) {
      server.respond(*c, "error: request too long (max " + std::to_string(kMaxRequest) +
                             " bytes)\n");
      return;
    }
    if (!complete) {
      return;
    }
  } else if (nread == 0) {
    return;  // EAGAIN
  } else if (nread == UV_EOF && c->used > 0) {
    complete = true;  // the client half-closed without a newline; accept the line
  } else {
    server.drop(*c);
    return;
  }
  // A copy, so the request stays valid even if the handler closes the server.
  std::string line(c->buf.data(), line_end);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  uv_read_stop(stream);
  std::string response;
  bool alive = true;
  c->alive = &alive;
  try {
    response = server.handler_(line);
  } catch (const std::exception& e) {
    response = std::string("error: ") + e.what() + "\n";
  }
  if (!alive) {
    return;  // the handler closed the server
  }
  c->alive = nullptr;
  server.respond(*c, std::move(response));
}

void UnixServer::respond(Connection& c, std::string response) {
  c.responded = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(c.pipe.get()));
  if (response.empty()) {
    drop(c);
    return;
  }
  auto* w = new WriteReq{};
  w->data = std::move(response);
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(c.pipe.get()), &b, 1,
                    &UnixServer::onWrite);
  if (rc < 0) {
    delete w;
    LOG_WARN("cannot answer on the control socket: %s", uv_strerror(rc));
    drop(c);
  }
}

void UnixServer::onWrite(uv_write_t* req, int /*status*/) {
  // The request outlives its connection: on close, libuv cancels it and calls us with
  // UV_ECANCELED; the pipe's data is null then.
  auto* c = static_cast<Connection*>(req->handle->data);
  delete reinterpret_cast<WriteReq*>(req);
  if (c != nullptr) {
    c->server.drop(*c);
  }
}

void UnixServer::onTimeout(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  if (c != nullptr) {
    c->server.drop(*c);
  }
}

void UnixServer::drop(Connection& c) { connections_.erase(c.self); }

}  // namespace vpn::net
