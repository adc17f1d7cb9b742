#pragma once
// PrometheusText: writes the Prometheus text exposition format (version 0.0.4) for the metrics
// endpoints. A family is opened with its name, type and help (the # HELP and # TYPE lines), then
// takes samples with optional labels. Names are checked against the format's grammar, counters
// must end in _total, and help texts and label values are escaped, so the output always parses
// (promtool check metrics accepts it; see the tests).
//
// Plain value type; not thread-safe; allocates (it is for a scrape every few seconds, not for
// the data path). Misuse (a bad name, a sample outside a family) throws std::invalid_argument:
// it is a programming error, caught by the tests.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace vpn::metrics {

class PrometheusText {
 public:
  enum class Type { kCounter, kGauge };
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  void family(std::string_view name, Type type, std::string_view help);
  void sample(double value) { sample({}, value); }
  void sample(Labels labels, double value);
  // For labels built at run time (peer names, drop reasons).
  void sample(const std::string& label_name, const std::string& label_value, double value);

  const std::string& text() const { return out_; }

  static bool validName(std::string_view name);

 private:
  void value(double v);

  std::string out_;
  std::string current_;  // the open family's name
};

}  // namespace vpn::metrics
