#include "crypto/internal/new_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "crypto/certificate.hpp"

namespace vpn::crypto::internal {

void refuseExisting(const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::symlink_status(p, ec).type() != std::filesystem::file_type::not_found) {
    throw CryptoError(p.string() + " already exists; refusing to overwrite it (move it away or " +
                      "choose another output name)");
  }
}

void writeNewFile(const std::filesystem::path& p, const std::string& data, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      refuseExisting(p);
    }
    throw CryptoError("cannot create " + p.string() + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(p.c_str());
      throw CryptoError("cannot write " + p.string() + ": " + std::strerror(saved));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int saved = errno;
    ::unlink(p.c_str());
    throw CryptoError("cannot write " + p.string() + ": " + std::strerror(saved));
  }
}

}  // namespace vpn::crypto::internal
