#include "os/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

namespace vpn::os {

ProcessStats readProcessStats() {
  ProcessStats s;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      s.resident_bytes = resident * static_cast<unsigned long long>(::sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') {
        s.open_fds++;
      }
    }
    ::closedir(d);
    s.open_fds = s.open_fds > 0 ? s.open_fds - 1 : 0;  // the directory stream itself
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    s.max_fds = rl.rlim_cur;
  }
  return s;
}

}  // namespace vpn::os
