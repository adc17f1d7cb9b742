#pragma once
// UnixServer: the daemon's control socket (one request line in, one response out, then close).
//
// Protocol: the client sends ONE request terminated by '\n' (at most kMaxRequest bytes; a trailing
// '\r' is stripped). The server calls the handler with the line (without the newline), writes the
// returned string, and closes the connection; the client reads until EOF. A request longer than
// kMaxRequest gets "error: request too long (max 4096 bytes)\n" and the connection is closed. A
// connection that has not completed within kConnectionTimeout is closed.
// Files: the parent directory is created (0755) if missing; the socket is mode 0600. If the path
// exists and a daemon answers on it, listen() throws; a stale socket is removed. close() (and the
// destructor) unlinks the socket file; a program that dropped root may lack the right to, and
// then leaves it for the next start to remove (giveTo() avoids that for a directory it created).
// Ownership: the server owns its listening handle and every open connection.
// Threading: loop thread only; the handler runs on the loop thread and must not block. The handler
// may call close() on the server but must not destroy it. Errors: listen() throws NetError with
// one clear sentence; handler exceptions become "error: <what>\n" responses.
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "net/net_error.hpp"
#include "net/uv_handle.hpp"

namespace vpn::net {

class UnixServer {
 public:
  using Handler = std::function<std::string(std::string_view request)>;
  static constexpr std::size_t kMaxRequest = 4096;
  static constexpr std::chrono::milliseconds kConnectionTimeout{5000};

  static std::unique_ptr<UnixServer> listen(uv_loop_t& loop, const std::filesystem::path& path,
                                            Handler handler);
  // Before a program drops root: the socket's directory, if listen() created it, becomes
  // uid:gid's, so that the unprivileged program can still remove the socket at exit. The socket
  // stays root's (only root connects); an existing directory is left as it is. Returns an error
  // sentence, or "" on success.
  std::string giveTo(unsigned uid, unsigned gid);
  // Same, with a custom per-connection time limit (tests use a short one).
  static std::unique_ptr<UnixServer> listen(uv_loop_t& loop, const std::filesystem::path& path,
                                            Handler handler,
                                            std::chrono::milliseconds connection_timeout);
  ~UnixServer();
  UnixServer(const UnixServer&) = delete;
  UnixServer& operator=(const UnixServer&) = delete;

  // Stops listening, drops open connections and unlinks the socket file. Idempotent.
  void close();
  const std::filesystem::path& path() const { return path_; }
  std::size_t connectionCount() const { return connections_.size(); }

 private:
  struct Connection;
  UnixServer(uv_loop_t& loop, std::filesystem::path path, Handler handler,
             std::chrono::milliseconds connection_timeout);
  static void onConnection(uv_stream_t* server, int status);
  static void onAlloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onTimeout(uv_timer_t* timer);
  void accept();
  void respond(Connection& c, std::string response);
  void drop(Connection& c);

  uv_loop_t& loop_;
  std::filesystem::path path_;
  Handler handler_;
  std::chrono::milliseconds connection_timeout_;
  UvHandle<uv_pipe_t> listener_;
  std::list<std::unique_ptr<Connection>> connections_;
  bool listening_ = false;
  bool created_parent_ = false;  // listen() made the socket's directory
};

}  // namespace vpn::net
