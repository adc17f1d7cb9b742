#include "client/render_format.hpp"

#include <cstdio>

namespace vpn::client {
namespace {

std::string inUnits(long long s) {
  char buf[48];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%lld s", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lld min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld h", s / 3600);
  }
  return buf;
}

long long wholeSeconds(Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return s < 0 ? 0 : static_cast<long long>(s);
}

}  // namespace

double millis(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string humanAgo(Duration d) {
  return inUnits(wholeSeconds(d)) + " ago";
}

std::string humanIn(Duration d) {
  // Round up, so "in 0 s" never shows for a deadline still ahead.
  if (d <= Duration::zero()) {
    return "now";
  }
  return "in " + inUnits(wholeSeconds(d + std::chrono::seconds(1) - Duration(1)));
}

double secondsAgo(Instant at, Instant now) {
  return at >= now ? 0.0 : toSeconds(now - at);
}

double secondsUntil(Instant at, Instant now) {
  return at <= now ? 0.0 : toSeconds(at - now);
}

std::string wrap(std::string_view text, std::string_view indent, std::size_t width) {
  std::string out;
  std::string line(indent);
  bool line_has_word = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto start = text.find_first_not_of(' ', pos);
    if (start == std::string_view::npos) {
      break;
    }
    auto end = text.find(' ', start);
    std::string_view word = text.substr(start, end == std::string_view::npos ? end : end - start);
    pos = end == std::string_view::npos ? text.size() : end;
    if (line_has_word && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = std::string(indent);
      line_has_word = false;
    }
    if (line_has_word) {
      line += ' ';
    }
    line += word;
    line_has_word = true;
  }
  if (line_has_word) {
    out += line + "\n";
  }
  return out;
}

void writeCandidates(JsonWriter& w, const std::vector<CandidateStatus>& candidates) {
  w.key("candidates").beginArray();
  for (const auto& c : candidates) {
    w.beginObject();
    w.key("endpoint").value(c.endpoint.toString());
    w.key("kind").value(c.kind);
    w.key("state").value(c.state);
    w.key("probes_sent").value(c.probes_sent);
    w.key("replies").value(c.replies);
    w.endObject();
  }
  w.endArray();
}

void writeHistory(JsonWriter& w, const std::vector<PathEvent>& history, Instant now) {
  w.key("history").beginArray();
  for (const auto& e : history) {
    w.beginObject();
    w.key("s_ago").value(secondsAgo(e.at, now));
    w.key("from").value(e.from);
    w.key("to").value(e.to);
    w.key("reason").value(e.reason);
    w.endObject();
  }
  w.endArray();
}

}  // namespace vpn::client
