#pragma once
// A small logging facade. The composition root (a program's main) installs one sink at start-up,
// before any other thread exists; libraries only call log(). Without a sink, warnings and errors
// go to stderr. Formatting happens only if the level is enabled, so debug logs on hot paths cost
// one comparison. Not for the per-packet path: count there, log on timers.
#include <cstdarg>
#include <functional>
#include <string_view>

namespace vpn::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Sink = std::function<void(Level, std::string_view message)>;

void setSink(Sink sink);
void setLevel(Level level);
Level level();
bool enabled(Level level);
std::string_view levelName(Level level);
// Parses "debug", "info", "warn", "error"; returns false on anything else.
bool parseLevel(std::string_view text, Level& out);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vpn::log

#define VPN_LOG(lvl, ...)                          \
  do {                                             \
    if (::vpn::log::enabled(lvl)) {                \
      ::vpn::log::write(lvl, __VA_ARGS__);         \
    }                                              \
  } while (0)
#define LOG_DEBUG(...) VPN_LOG(::vpn::log::Level::kDebug, __VA_ARGS__)
#define LOG_INFO(...) VPN_LOG(::vpn::log::Level::kInfo, __VA_ARGS__)
#define LOG_WARN(...) VPN_LOG(::vpn::log::Level::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) VPN_LOG(::vpn::log::Level::kError, __VA_ARGS__)
