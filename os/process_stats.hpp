#pragma once
// ProcessStats: this process's CPU time (getrusage), resident memory and open file descriptors
// (/proc/self), for the metrics endpoints' process_* series. Zero where unreadable; never throws.
#include <cstdint>

namespace vpn::os {

struct ProcessStats {
  double cpu_seconds = 0;           // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
};

ProcessStats readProcessStats();

}  // namespace vpn::os
