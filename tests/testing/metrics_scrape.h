#pragma once
// Reading camfleetd's /metrics as Prometheus would: a real HTTP GET, the samples parsed out of
// the text, and Prometheus's own parser and linter (`promtool check metrics`, Debian package
// `prometheus`) run over the scrape, so the text format is checked by the code that will read
// it in production.

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace camfleet::testing {

// GET http://127.0.0.1:PORT/metrics. Errors: UNAVAILABLE if the connection fails; INTERNAL
// for a status other than 200 or a Content-Type other than the text format 0.0.4.
absl::StatusOr<std::string> ScrapeMetrics(int port, const std::string& path = "/metrics");

// The samples of a scrape by series, exactly as written: `name{label="value",...}` (or `name`)
// to value. Comment lines are skipped. A line that is not `series value` makes the map empty.
std::map<std::string, double> ParseSamples(const std::string& exposition);

// The value of `series` in `samples`, or -1 when absent (so EXPECT_EQ shows it missing).
double Sample(const std::map<std::string, double>& samples, const std::string& series);

// Whether promtool is on PATH.
bool PromtoolAvailable();

// Whether the environment says CI=true (CI installs promtool: scripts/install-deps).
bool InCi();

// At the start of a test body that needs promtool: skips the test when promtool is missing on
// a developer's machine, fails it when it is missing under CI=true.
#define CAMFLEET_REQUIRE_PROMTOOL()                                                           \
  do {                                                                                        \
    if (!::camfleet::testing::PromtoolAvailable()) {                                          \
      if (::camfleet::testing::InCi()) {                                                      \
        FAIL() << "promtool is not installed and CI must run this check: install Debian's "   \
                  "`prometheus` package (scripts/install-deps does)";                        \
      }                                                                                       \
      GTEST_SKIP() << "promtool not installed (Debian package `prometheus`, "                 \
                      "scripts/install-deps); under CI=true this is a failure";               \
    }                                                                                         \
  } while (0)

// Feeds `exposition` to `promtool check metrics`. OK when it parses and lints clean; otherwise
// INVALID_ARGUMENT with promtool's output (the problems, line by line).
absl::Status PromtoolCheckMetrics(const std::string& exposition);

}  // namespace camfleet::testing
