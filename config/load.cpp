#include "config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/raw_peer_file.hpp"

namespace vpn::config {

namespace {

ConfigResult parseImpl(std::string_view text, const std::string& display_name,
                       const std::filesystem::path& base_dir, std::filesystem::path source) {
  std::vector<ConfigError> errors;
  detail::RawPeerFile raw = detail::readPeerFile(text, display_name, errors);
  PeerConfig cfg = detail::validatePeerFile(raw, display_name, base_dir, errors);
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return err(std::move(errors));
  }
  cfg.source = std::move(source);
  return cfg;
}

constexpr std::size_t kMaxPeerFileSize = 1 << 20;

std::string errnoText(int e) {
  return std::error_code(e, std::generic_category()).message();
}

// Opens a regular file for reading (O_NONBLOCK so a FIFO cannot hang us). Returns the fd, or -1
// with `problem` set.
int openRegular(const std::filesystem::path& path, std::string& problem) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    problem = errnoText(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = S_ISDIR(st.st_mode) ? errnoText(EISDIR) : "not a regular file";
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string checkReadable(const std::filesystem::path& path) {
  std::string problem;
  int fd = openRegular(path, problem);
  if (fd >= 0) {
    ::close(fd);
  }
  return problem;
}

std::string readSmallFile(const std::filesystem::path& path, std::string& out) {
  std::string problem;
  int fd = openRegular(path, problem);
  if (fd < 0) {
    return problem;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      problem = errnoText(errno);
      break;
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxPeerFileSize) {
      problem = "larger than 1 MiB; this is not a peer file";
      break;
    }
  }
  ::close(fd);
  return problem;
}

}  // namespace

ConfigResult parsePeerConfig(std::string_view toml_text, const std::filesystem::path& source) {
  return parseImpl(toml_text, source.string(), source.parent_path(), source);
}

ConfigResult loadPeerConfig(const std::filesystem::path& file) {
  std::string text;
  if (std::string problem = readSmallFile(file, text); !problem.empty()) {
    return err(std::vector<ConfigError>{
        ConfigError{file.string(), 0, 0, "", "cannot read " + file.string() + ": " + problem}});
  }
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(file, ec);
  if (ec) {
    absolute = file;
  }
  absolute = absolute.lexically_normal();
  return parseImpl(text, file.string(), absolute.parent_path(), absolute);
}

std::vector<ConfigError> checkFiles(const PeerConfig& cfg) {
  std::vector<ConfigError> errors;
  const std::pair<const char*, const std::filesystem::path*> files[] = {
      {"peer.ca", &cfg.ca}, {"peer.cert", &cfg.cert}, {"peer.key", &cfg.key}};
  for (const auto& [key_path, path] : files) {
    if (path->empty()) {
      errors.push_back(ConfigError{cfg.source.string(), 0, 0, key_path, "no file given"});
    } else if (std::string problem = checkReadable(*path); !problem.empty()) {
      errors.push_back(ConfigError{cfg.source.string(), 0, 0, key_path,
                                   "cannot read " + path->string() + ": " + problem});
    }
  }
  return errors;
}

}  // namespace vpn::config
