#include "metrics/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace vpn::metrics {
namespace {

void escapeInto(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

bool validLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool PrometheusText::validName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

void PrometheusText::family(std::string_view name, Type type, std::string_view help) {
  if (!validName(name)) {
    throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
  }
  constexpr std::string_view kTotal = "_total";
  bool total = name.size() > kTotal.size() && name.substr(name.size() - kTotal.size()) == kTotal;
  if ((type == Type::kCounter) != total) {
    throw std::invalid_argument("metric '" + std::string(name) +
                                "': counters, and only counters, end in _total");
  }
  current_ = std::string(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  escapeInto(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == Type::kCounter ? " counter\n" : " gauge\n";
}

void PrometheusText::sample(Labels labels, double v) {
  if (current_.empty()) {
    throw std::invalid_argument("a sample outside a metric family");
  }
  out_ += current_;
  if (labels.size() != 0) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, val] : labels) {
      if (!validLabelName(k)) {
        throw std::invalid_argument("invalid label name '" + std::string(k) + "'");
      }
      out_ += first ? "" : ",";
      first = false;
      out_ += k;
      out_ += "=\"";
      escapeInto(out_, val, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  value(v);
  out_ += '\n';
}

void PrometheusText::sample(const std::string& label_name, const std::string& label_value,
                            double v) {
  sample({{label_name, label_value}}, v);
}

void PrometheusText::value(double v) {
  if (std::isnan(v)) {
    out_ += "NaN";
  } else if (std::isinf(v)) {
    out_ += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out_ += std::to_string(static_cast<long long>(v));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_ += buf;
  }
}

}  // namespace vpn::metrics
