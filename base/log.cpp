#include "base/log.hpp"

#include <cstdio>
#include <string>

namespace vpn::log {
namespace {

Level g_level = Level::kInfo;
Sink g_sink;

}  // namespace

void setSink(Sink sink) { g_sink = std::move(sink); }
void setLevel(Level lvl) { g_level = lvl; }
Level level() { return g_level; }
bool enabled(Level lvl) { return static_cast<int>(lvl) >= static_cast<int>(g_level); }

std::string_view levelName(Level lvl) {
  switch (lvl) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "?";
}

bool parseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level lvl, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) {
    return;
  }
  std::string_view msg(buf, static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n)
                                                                      : sizeof buf - 1);
  if (g_sink) {
    g_sink(lvl, msg);
  } else if (lvl >= Level::kWarn) {
    std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(levelName(lvl).size()),
                 levelName(lvl).data(), static_cast<int>(msg.size()), msg.data());
  }
}

}  // namespace vpn::log
