#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace camfleet::common {
namespace {

[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

bool ValidName(absl::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                        (colon_allowed && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"` plus `extra` (already formatted, e.g. `le="0.5"`), then `}`; empty when there
// is nothing to put in braces.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     absl::string_view extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, names.empty() ? "" : ",", extra);
  out += "}";
  return out;
}

void AppendSample(std::string& out, absl::string_view name, const std::string& labels,
                  double value) {
  absl::StrAppend(&out, name, labels, " ", FormatSampleValue(value), "\n");
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 9.007199254740992e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, r.ptr);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Misuse("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::Observe(double v) {
  // The first bound >= v: buckets are `le` (upper bound inclusive). NaN lands in +Inf.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snap;
  snap.bounds = bounds_;
  snap.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snap.cumulative[i] = running;
  }
  // The count is the +Inf bucket, so a scrape never shows more observations in a bucket than
  // in the count; the sum is read apart and may lag or lead it by the observations in flight.
  snap.count = running;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> PowersOfTwo(double max) {
  std::vector<double> bounds;
  for (double b = 1; ; b *= 2) {
    bounds.push_back(b);
    if (b >= max) break;
  }
  return bounds;
}

MetricsRegistry::Entry& MetricsRegistry::NewEntry(const std::string& name, const std::string& help,
                                                  MetricType type,
                                                  std::vector<std::string> label_names) {
  if (!ValidName(name, /*colon_allowed=*/true)) Misuse("bad metric name '" + name + "'");
  for (const std::string& label : label_names) {
    if (!ValidName(label, /*colon_allowed=*/false) || label.rfind("__", 0) == 0 ||
        (type == MetricType::kHistogram && label == "le")) {
      Misuse("bad label name '" + label + "' for metric " + name);
    }
  }
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Entry>& e : entries_) {
    if (e->name == name) Misuse("metric " + name + " registered twice");
  }
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = type;
  entry->label_names = std::move(label_names);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Family<Counter>& MetricsRegistry::AddCounterFamily(const std::string& name,
                                                   const std::string& help,
                                                   std::vector<std::string> label_names) {
  Entry& e = NewEntry(name, help, MetricType::kCounter, label_names);
  e.counters.reset(new Family<Counter>(std::move(label_names),
                                       [] { return std::make_unique<Counter>(); }));
  return *e.counters;
}

Family<Gauge>& MetricsRegistry::AddGaugeFamily(const std::string& name, const std::string& help,
                                               std::vector<std::string> label_names) {
  Entry& e = NewEntry(name, help, MetricType::kGauge, label_names);
  e.gauges.reset(
      new Family<Gauge>(std::move(label_names), [] { return std::make_unique<Gauge>(); }));
  return *e.gauges;
}

Family<Histogram>& MetricsRegistry::AddHistogramFamily(const std::string& name,
                                                       const std::string& help,
                                                       std::vector<std::string> label_names,
                                                       std::vector<double> bounds) {
  Histogram check(bounds);  // aborts here, at registration, on bad bounds
  Entry& e = NewEntry(name, help, MetricType::kHistogram, label_names);
  e.histograms.reset(new Family<Histogram>(
      std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *e.histograms;
}

Counter& MetricsRegistry::AddCounter(const std::string& name, const std::string& help) {
  return AddCounterFamily(name, help, {}).WithLabels({});
}

Gauge& MetricsRegistry::AddGauge(const std::string& name, const std::string& help) {
  return AddGaugeFamily(name, help, {}).WithLabels({});
}

Histogram& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> bounds) {
  return AddHistogramFamily(name, help, {}, std::move(bounds)).WithLabels({});
}

void MetricsRegistry::AddCollector(const std::string& name, const std::string& help,
                                   MetricType type, std::vector<std::string> label_names,
                                   std::function<void(Samples&)> collect) {
  if (type == MetricType::kHistogram) Misuse("collector " + name + " cannot be a histogram");
  Entry& e = NewEntry(name, help, type, std::move(label_names));
  e.collect = std::move(collect);
}

std::string MetricsRegistry::Render() const {
  std::vector<const Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    for (const std::unique_ptr<Entry>& e : entries_) entries.push_back(e.get());
  }
  // Entries are never removed, so they outlive this scrape without the lock held (collectors
  // may take their time reading the store).
  std::string out;
  for (const Entry* e : entries) {
    absl::StrAppend(&out, "# HELP ", e->name, " ", EscapeHelp(e->help), "\n", "# TYPE ", e->name,
                    " ", TypeName(e->type), "\n");
    if (e->collect) {
      Samples samples;
      e->collect(samples);
      for (const auto& [values, value] : samples.rows()) {
        if (values.size() != e->label_names.size()) {
          Misuse(absl::StrCat("collector ", e->name, " reported ", values.size(),
                              " label values for ", e->label_names.size(), " label names"));
        }
        AppendSample(out, e->name, LabelSet(e->label_names, values), value);
      }
    } else if (e->counters != nullptr) {
      absl::MutexLock lock(&e->counters->mu_);
      for (const auto& [values, counter] : e->counters->series_) {
        AppendSample(out, e->name, LabelSet(e->label_names, values),
                     static_cast<double>(counter->value()));
      }
    } else if (e->gauges != nullptr) {
      absl::MutexLock lock(&e->gauges->mu_);
      for (const auto& [values, gauge] : e->gauges->series_) {
        AppendSample(out, e->name, LabelSet(e->label_names, values), gauge->value());
      }
    } else if (e->histograms != nullptr) {
      absl::MutexLock lock(&e->histograms->mu_);
      for (const auto& [values, histogram] : e->histograms->series_) {
        const Histogram::Snapshot snap = histogram->Read();
        for (size_t i = 0; i <= snap.bounds.size(); ++i) {
          const std::string le =
              i < snap.bounds.size() ? FormatSampleValue(snap.bounds[i]) : "+Inf";
          AppendSample(out, e->name + "_bucket",
                       LabelSet(e->label_names, values, absl::StrCat("le=\"", le, "\"")),
                       static_cast<double>(snap.cumulative[i]));
        }
        const std::string labels = LabelSet(e->label_names, values);
        AppendSample(out, e->name + "_sum", labels, snap.sum);
        AppendSample(out, e->name + "_count", labels, static_cast<double>(snap.count));
      }
    }
  }
  return out;
}

}  // namespace camfleet::common
