#pragma once
// FileStamp: what stat() says about a file (device, inode, size, modification time), to tell on a
// reload whether a certificate or key file was replaced without reading it. Reading needs the
// permission to read; stat() needs only the directory's, which the daemon keeps after it drops
// root. Thread-safe (no state); never throws: a file that cannot be stat'ed has an empty stamp.
#include <cstdint>
#include <filesystem>

namespace vpn::os {

struct FileStamp {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

FileStamp stampOf(const std::filesystem::path& file);

}  // namespace vpn::os
