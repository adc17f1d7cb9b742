#pragma once
// Test helper: runs a body in a forked child inside a fresh network namespace, so tests that
// change interfaces never touch the host's. Needs root (unshare(CLONE_NEWNET)). The body reports
// failure by throwing; gtest assertions must not be used in the child.
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace vpn::tun::test {

#define REQUIRE_ROOT()                                                                     \
  if (::geteuid() != 0) {                                                                  \
    GTEST_SKIP() << "needs root (CAP_NET_ADMIN + unshare(CLONE_NEWNET)) to change "        \
                    "interfaces in a private network namespace; CI runs this as root";     \
  }

inline void check(bool ok, const std::string& what) {
  if (!ok) {
    throw std::runtime_error(what);
  }
}

// Runs body in a forked child inside a new network namespace; with private_sys also a new mount
// namespace with its own /sys, so /sys/class/net shows the child's interfaces. Returns "" on
// success, else the failure text. The child is killed after 20 s.
inline std::string runInNetns(const std::function<void()>& body, bool private_sys = false) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) {
    return "pipe failed";
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return "fork failed";
  }
  if (pid == 0) {
    ::close(pipefd[0]);
    ::alarm(20);  // a hung child cannot hang the test run
    std::string error;
    try {
      check(::unshare(CLONE_NEWNET | (private_sys ? CLONE_NEWNS : 0)) == 0,
            std::string("unshare: ") + std::strerror(errno));
      if (private_sys) {
        check(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0,
              std::string("make / private: ") + std::strerror(errno));
        (void)::umount2("/sys", MNT_DETACH);
        check(::mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0,
              std::string("mount sysfs: ") + std::strerror(errno));
      }
      body();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      (void)!::write(pipefd[1], error.data(), error.size());
    }
    ::_exit(error.empty() ? 0 : 1);
  }
  ::close(pipefd[1]);
  std::string text;
  std::array<char, 512> buf{};
  ssize_t n = 0;
  while ((n = ::read(pipefd[0], buf.data(), buf.size())) > 0) {
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    return "child killed by signal " + std::to_string(WTERMSIG(status)) + " " + text;
  }
  if (WEXITSTATUS(status) != 0) {
    return text.empty() ? "child failed with exit code " + std::to_string(WEXITSTATUS(status))
                        : text;
  }
  return "";
}

}  // namespace vpn::tun::test
