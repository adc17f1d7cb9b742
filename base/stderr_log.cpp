#include "base/stderr_log.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace vpn::log {
namespace {

// RFC 5424 severities, as sd-daemon(3) prefixes read them.
int syslogPriority(Level l) {
  switch (l) {
    case Level::kDebug: return 7;
    case Level::kInfo: return 6;
    case Level::kWarn: return 4;
    case Level::kError: return 3;
  }
  return 6;
}

}  // namespace

bool stderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) {
    return false;
  }
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) {
    return false;
  }
  struct stat st {};
  return ::fstat(2, &st) == 0 && static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::string formatLine(Level level, std::string_view message, bool journal) {
  std::string line;
  if (journal) {
    line = "<" + std::to_string(syslogPriority(level)) + ">";
  } else {
    std::time_t tt = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string name(levelName(level));
    name.resize(5, ' ');
    line = std::string(ts) + " " + name + " ";
  }
  // One event, one line: a newline inside a message would split it in the journal.
  for (char c : message) {
    line += c == '\n' ? ' ' : c;
  }
  return line;
}

void installStderrSink(Level level) {
  setLevel(level);
  const bool journal = stderrIsJournal();
  setSink([journal](Level lvl, std::string_view msg) {
    std::string line = formatLine(lvl, msg, journal);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  });
}

}  // namespace vpn::log
