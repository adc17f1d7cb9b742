// The Prometheus text format writer: exact output, escaping, and the naming rules it enforces.
#include "metrics/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace vpn::metrics {
namespace {

TEST(PrometheusText, FamiliesWithHelpTypeAndLabelledSamples) {
  PrometheusText t;
  t.family("vpnpeer_rendezvous_relayed_bytes_total", PrometheusText::Type::kCounter,
           "Bytes of relay datagrams forwarded.");
  t.sample(123456789);
  t.family("vpnpeer_rendezvous_drops_total", PrometheusText::Type::kCounter,
           "Datagrams dropped, by reason.");
  t.sample({{"reason", "bad_cookie"}}, 3);
  t.sample("reason", "unpadded", 0);
  t.family("vpnpeer_rendezvous_registered_peers", PrometheusText::Type::kGauge,
           "Peers registered now.");
  t.sample(2.5);
  EXPECT_EQ(t.text(),
            "# HELP vpnpeer_rendezvous_relayed_bytes_total Bytes of relay datagrams forwarded.\n"
            "# TYPE vpnpeer_rendezvous_relayed_bytes_total counter\n"
            "vpnpeer_rendezvous_relayed_bytes_total 123456789\n"
            "# HELP vpnpeer_rendezvous_drops_total Datagrams dropped, by reason.\n"
            "# TYPE vpnpeer_rendezvous_drops_total counter\n"
            "vpnpeer_rendezvous_drops_total{reason=\"bad_cookie\"} 3\n"
            "vpnpeer_rendezvous_drops_total{reason=\"unpadded\"} 0\n"
            "# HELP vpnpeer_rendezvous_registered_peers Peers registered now.\n"
            "# TYPE vpnpeer_rendezvous_registered_peers gauge\n"
            "vpnpeer_rendezvous_registered_peers 2.5\n");
}

TEST(PrometheusText, EscapesHelpAndLabelValues) {
  PrometheusText t;
  t.family("x", PrometheusText::Type::kGauge, "a \\ b\nc");
  t.sample({{"peer", "q\"\\\n"}}, 1);
  EXPECT_EQ(t.text(), "# HELP x a \\\\ b\\nc\n# TYPE x gauge\nx{peer=\"q\\\"\\\\\\n\"} 1\n");
}

TEST(PrometheusText, SpecialValues) {
  PrometheusText t;
  t.family("g", PrometheusText::Type::kGauge, "h");
  t.sample(std::numeric_limits<double>::quiet_NaN());
  t.sample(std::numeric_limits<double>::infinity());
  t.sample(-std::numeric_limits<double>::infinity());
  t.sample(0.1);
  EXPECT_EQ(t.text(), "# HELP g h\n# TYPE g gauge\ng NaN\ng +Inf\ng -Inf\ng 0.10000000000000001\n");
}

TEST(PrometheusText, NamingRulesAreEnforced) {
  PrometheusText t;
  EXPECT_THROW(t.sample(1), std::invalid_argument);  // no family yet
  EXPECT_THROW(t.family("9lives", PrometheusText::Type::kGauge, "h"), std::invalid_argument);
  EXPECT_THROW(t.family("has-dash", PrometheusText::Type::kGauge, "h"), std::invalid_argument);
  EXPECT_THROW(t.family("packets", PrometheusText::Type::kCounter, "h"), std::invalid_argument);
  EXPECT_THROW(t.family("packets_total", PrometheusText::Type::kGauge, "h"), std::invalid_argument);
  t.family("ok_total", PrometheusText::Type::kCounter, "h");
  EXPECT_THROW(t.sample({{"__reserved", "x"}}, 1), std::invalid_argument);
  EXPECT_THROW(t.sample({{"bad-label", "x"}}, 1), std::invalid_argument);
  EXPECT_TRUE(PrometheusText::validName("a:b_c9"));
}

}  // namespace
}  // namespace vpn::metrics
