// The Prometheus text format as common/metrics.h writes it: what a scraper relies on (HELP and
// TYPE lines, escaping, cumulative buckets ending in +Inf, _sum and _count), checked by hand and
// by Prometheus's own parser (promtool).

#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/metrics_scrape.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::common {
namespace {

using ::camfleet::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterRendersWithHelpAndType) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("camfleet_things_total", "Things done.");
  c.Increment();
  c.Increment(4);
  EXPECT_EQ(registry.Render(),
            "# HELP camfleet_things_total Things done.\n"
            "# TYPE camfleet_things_total counter\n"
            "camfleet_things_total 5\n");
}

TEST(MetricsTest, GaugeGoesUpAndDown) {
  MetricsRegistry registry;
  Gauge& g = registry.AddGauge("camfleet_level", "A level.");
  g.Set(10);
  g.Add(-2.5);
  EXPECT_EQ(registry.Render(),
            "# HELP camfleet_level A level.\n"
            "# TYPE camfleet_level gauge\n"
            "camfleet_level 7.5\n");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  Family<Counter>& f = registry.AddCounterFamily("camfleet_odd_total", "Odd labels.", {"note"});
  f.WithLabels({"back\\slash \"quoted\"\nnext line"}).Increment();
  EXPECT_THAT(registry.Render(),
              HasSubstr("camfleet_odd_total{note=\"back\\\\slash \\\"quoted\\\"\\nnext line\"} 1\n"));
}

TEST(MetricsTest, HelpIsEscapedButQuotesAreNot) {
  MetricsRegistry registry;
  registry.AddGauge("camfleet_g", "Say \"hi\"\\ then\nmore.");
  EXPECT_THAT(registry.Render(), HasSubstr("# HELP camfleet_g Say \"hi\"\\\\ then\\nmore.\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  MetricsRegistry registry;
  Histogram& h = registry.AddHistogram("camfleet_wait_seconds", "Waits.", {0.25, 1, 10});
  h.Observe(0.125);
  h.Observe(0.25);  // on a bound: counts in that bucket (le is inclusive)
  h.Observe(0.5);
  h.Observe(20);
  h.Observe(30);
  EXPECT_EQ(registry.Render(),
            "# HELP camfleet_wait_seconds Waits.\n"
            "# TYPE camfleet_wait_seconds histogram\n"
            "camfleet_wait_seconds_bucket{le=\"0.25\"} 2\n"
            "camfleet_wait_seconds_bucket{le=\"1\"} 3\n"
            "camfleet_wait_seconds_bucket{le=\"10\"} 3\n"
            "camfleet_wait_seconds_bucket{le=\"+Inf\"} 5\n"
            "camfleet_wait_seconds_sum 50.875\n"
            "camfleet_wait_seconds_count 5\n");
}

TEST(MetricsTest, HistogramWithLabelsPutsLeLast) {
  MetricsRegistry registry;
  Family<Histogram>& f =
      registry.AddHistogramFamily("camfleet_call_seconds", "Calls.", {"method", "code"}, {1});
  f.WithLabels({"Get", "OK"}).Observe(0.5);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("camfleet_call_seconds_bucket{method=\"Get\",code=\"OK\",le=\"1\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("camfleet_call_seconds_bucket{method=\"Get\",code=\"OK\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("camfleet_call_seconds_sum{method=\"Get\",code=\"OK\"} 0.5\n"));
  EXPECT_THAT(text, HasSubstr("camfleet_call_seconds_count{method=\"Get\",code=\"OK\"} 1\n"));
}

TEST(MetricsTest, SameLabelsSameSeries) {
  MetricsRegistry registry;
  Family<Counter>& f = registry.AddCounterFamily("camfleet_x_total", "X.", {"a"});
  EXPECT_EQ(&f.WithLabels({"1"}), &f.WithLabels({"1"}));
  EXPECT_NE(&f.WithLabels({"1"}), &f.WithLabels({"2"}));
}

TEST(MetricsTest, SeriesAreSortedByLabelValues) {
  MetricsRegistry registry;
  Family<Gauge>& f = registry.AddGaugeFamily("camfleet_backlog", "B.", {"dock"});
  f.WithLabels({"dock-b"}).Set(2);
  f.WithLabels({"dock-a"}).Set(1);
  const std::string text = registry.Render();
  EXPECT_LT(text.find("dock-a"), text.find("dock-b"));
}

TEST(MetricsTest, CollectorIsReadAtScrapeTime) {
  MetricsRegistry registry;
  int calls = 0;
  registry.AddCollector("camfleet_alerts_open", "Open alerts.", MetricType::kGauge, {"kind"},
                        [&calls](Samples& s) {
                          ++calls;
                          s.Add({"LOST_DOCKED"}, calls);
                        });
  EXPECT_THAT(registry.Render(), HasSubstr("camfleet_alerts_open{kind=\"LOST_DOCKED\"} 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("camfleet_alerts_open{kind=\"LOST_DOCKED\"} 2\n"));
}

TEST(MetricsTest, CollectorWithNoRowsRendersOnlyHelpAndType) {
  MetricsRegistry registry;
  registry.AddCollector("camfleet_none", "Nothing yet.", MetricType::kGauge, {"dock"},
                        [](Samples&) {});
  EXPECT_EQ(registry.Render(),
            "# HELP camfleet_none Nothing yet.\n# TYPE camfleet_none gauge\n");
}

TEST(MetricsTest, SampleValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatSampleValue(1.0 / 3)), 1.0 / 3);  // reads back exactly
}

TEST(MetricsTest, ConcurrentObservationsAreAllCounted) {
  MetricsRegistry registry;
  Histogram& h = registry.AddHistogram("camfleet_h", "H.", {1});
  Counter& c = registry.AddCounter("camfleet_c_total", "C.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        h.Observe(1);
        c.Increment();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  const Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.count, 40000u);
  EXPECT_EQ(snap.sum, 40000.0);
  EXPECT_EQ(snap.cumulative.front(), 40000u);
}

TEST(MetricsDeathTest, BadNamesAbortAtRegistration) {
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("9lives_total", "Bad name.");
      },
      "bad metric name '9lives_total'");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogramFamily("camfleet_h", "H.", {"le"}, {1});
      },
      "bad label name 'le'");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddGauge("camfleet_g", "G.");
        registry.AddGauge("camfleet_g", "G again.");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogram("camfleet_h", "H.", {1, 1});
      },
      "strictly increasing");
}

TEST(MetricsTest, PromtoolAcceptsEverything) {
  CAMFLEET_REQUIRE_PROMTOOL();
  MetricsRegistry registry;
  registry.AddCounter("camfleet_things_total", "Things \"done\".\nSecond line \\ here.")
      .Increment(3);
  registry.AddGauge("camfleet_level", "A level.").Set(-0.25);
  registry.AddCounterFamily("camfleet_odd_total", "Odd labels.", {"note"})
      .WithLabels({"back\\slash \"quoted\"\nnext line {} = , é"})
      .Increment();
  Family<Histogram>& f = registry.AddHistogramFamily("camfleet_call_seconds", "Calls.",
                                                     {"method", "code"}, LatencyBuckets());
  f.WithLabels({"/camfleet.v1.FleetService/GetCamera", "OK"}).Observe(0.003);
  f.WithLabels({"/camfleet.v1.FleetService/GetCamera", "NOT_FOUND"}).Observe(20);
  registry.AddHistogram("camfleet_group_writes", "Group sizes.", PowersOfTwo(512)).Observe(7);
  registry.AddCollector("camfleet_backlog_items", "Backlog.", MetricType::kGauge, {"dock"},
                        [](Samples& s) { s.Add({"dock-1"}, 12); });
  registry.AddCollector("camfleet_empty", "Nothing yet.", MetricType::kGauge, {"x"},
                        [](Samples&) {});
  EXPECT_THAT(camfleet::testing::PromtoolCheckMetrics(registry.Render()), IsOk());
}

TEST(MetricsTest, PromtoolRejectsBrokenText) {
  // The check itself must be able to fail, or the test above proves nothing.
  CAMFLEET_REQUIRE_PROMTOOL();
  EXPECT_THAT(camfleet::testing::PromtoolCheckMetrics("camfleet_x{a=\"unterminated} 1\n"),
              Not(IsOk()));
}

TEST(MetricsTest, PowersOfTwo) {
  EXPECT_EQ(PowersOfTwo(4), (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(PowersOfTwo(5), (std::vector<double>{1, 2, 4, 8}));
}

}  // namespace
}  // namespace camfleet::common
