#pragma once
// Times and durations as a quartermaster types and reads them: "12h", "1d12h",
// "2026-11-23T08:00:00Z" in; "2026-11-22 20:15Z" and "3h12m" out. All times are UTC.

#include <google/protobuf/timestamp.pb.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace camfleet::cli {

// Shown in every error about a time argument, so the fix is on screen.
inline constexpr char kTimeForms[] =
    "a duration like 30m, 12h, 7d or 1d12h, or an RFC3339 time like 2026-11-23T08:00:00Z";

// Parses a duration written as days, hours, minutes and seconds, largest first, each at most
// once: "30m", "12h", "7d", "1d12h", "90s", "1h30m". It must be more than zero and at most
// 100 years. Errors: INVALID_ARGUMENT naming the accepted forms.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

// Which way a duration points from now.
enum class Relative {
  kFuture,  // "--due 12h" means 12 hours from now
  kPast,    // "--since 7d" means 7 days ago
};

// Parses a duration (relative to `now` truncated to the second, in the given direction) or an
// RFC3339 time with seconds and an offset ("2026-11-23T08:00:00Z", "2026-11-23T09:00:00+01:00").
// Errors: INVALID_ARGUMENT showing both accepted forms.
absl::StatusOr<absl::Time> ParseTimeArg(absl::string_view text, absl::Time now, Relative relative);

// "2026-11-22 20:15Z"; "-" for an infinite time.
std::string FormatUtc(absl::Time t);
// "2026-11-22 20:15:07Z", for audit events where seconds matter; "-" for an infinite time.
std::string FormatUtcSeconds(absl::Time t);

// A duration to the largest two units, rounded down: "45s", "12m", "3h12m", "3h", "2d4h",
// "2d"; negative durations get a leading "-"; infinite ones are "-".
std::string HumanizeDuration(absl::Duration d);

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToTimestamp(absl::Time t);
// FormatUtc of a timestamp field, or "" (an empty cell) when the field is unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts, bool has);

}  // namespace camfleet::cli
