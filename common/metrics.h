#pragma once
// Prometheus metrics without prometheus-cpp (Debian has none): counters, gauges and histograms,
// with or without labels, and a registry that renders them in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` per
// metric, label values escaped, histograms as cumulative `_bucket{le=...}` series ending with
// `le="+Inf"`, then `_sum` and `_count`.
//
// Hot path: Counter::Increment, Gauge::Set/Add and Histogram::Observe are relaxed atomics, no
// lock and no allocation. Finding a labelled series (Family::WithLabels) takes a lock and may
// allocate: do it once and keep the reference (series live as long as the registry).
// Values that already live elsewhere (a queue's length, rows in the database) are read at scrape
// time by a collector (AddCollector) instead of being mirrored in a gauge.
//
// Names and label names are checked at registration; a bad or duplicate one is a programming
// error and aborts with a message naming it.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace camfleet::common {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds (inclusive: `le`), strictly increasing, finite; the
  // +Inf bucket is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  // Per bucket, not cumulative; the last one is (last bound, +Inf).
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds, 100 us to 10 s.
std::vector<double> LatencyBuckets();
// 1, 2, 4, ... up to `max` (a power of two at or above it).
std::vector<double> PowersOfTwo(double max);

// One metric with labels: a series per distinct list of label values.
template <typename T>
class Family {
 public:
  // The series for `values` (one per label name, in order), made on first use. Takes a lock:
  // keep the reference rather than calling this per event. Aborts on a wrong number of values.
  T& WithLabels(const std::vector<std::string>& values);

 private:
  friend class MetricsRegistry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  // Ordered by label values: a stable scrape.
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
};

// What a collector reports at scrape time: one value per list of label values.
class Samples {
 public:
  void Add(std::vector<std::string> label_values, double value) {
    rows_.emplace_back(std::move(label_values), value);
  }
  const std::vector<std::pair<std::vector<std::string>, double>>& rows() const { return rows_; }

 private:
  std::vector<std::pair<std::vector<std::string>, double>> rows_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Metrics without labels.
  Counter& AddCounter(const std::string& name, const std::string& help);
  Gauge& AddGauge(const std::string& name, const std::string& help);
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds);
  // Metrics with labels. Keep the label values few (a method, a status code, a dock): every
  // distinct list is a series kept until the process ends.
  Family<Counter>& AddCounterFamily(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names);
  Family<Gauge>& AddGaugeFamily(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names);
  Family<Histogram>& AddHistogramFamily(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);
  // A counter or gauge whose values are read when scraped: `collect` fills one row per series
  // (label values in the order of `label_names`). It runs on the scraping thread, may read the
  // store, and must not call back into the registry. A collector that reports no rows renders
  // only its HELP and TYPE.
  void AddCollector(const std::string& name, const std::string& help, MetricType type,
                    std::vector<std::string> label_names,
                    std::function<void(Samples&)> collect);

  // Every metric in registration order, in text format 0.0.4.
  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    MetricType type;
    std::vector<std::string> label_names;
    // Exactly one of these is set.
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<void(Samples&)> collect;
  };
  Entry& NewEntry(const std::string& name, const std::string& help, MetricType type,
                  std::vector<std::string> label_names);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// The text format's escaping: label values escape backslash, double quote and newline; HELP
// text escapes backslash and newline.
std::string EscapeLabelValue(absl::string_view value);
std::string EscapeHelp(absl::string_view help);
// A sample value as the text format writes it: integers without a fraction, "+Inf", "-Inf",
// "NaN", otherwise the shortest form that reads back to the same double.
std::string FormatSampleValue(double value);

// The Content-Type of Render()'s output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    // A programming error: the call site and the registration disagree.
    std::fprintf(stderr, "metrics: %zu label values for %zu label names\n", values.size(),
                 label_names_.size());
    std::abort();
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& slot = series_[values];
  if (slot == nullptr) slot = make_();
  return *slot;
}

}  // namespace camfleet::common
