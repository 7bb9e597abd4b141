#include "cli/time_format.h"

#include <array>
#include <cctype>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace camfleet::cli {
namespace {

absl::Status BadTime(absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not ", kTimeForms));
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  struct Unit {
    char suffix;
    absl::Duration size;
  };
  const std::array<Unit, 4> units = {Unit{'d', absl::Hours(24)}, Unit{'h', absl::Hours(1)},
                                     Unit{'m', absl::Minutes(1)}, Unit{'s', absl::Seconds(1)}};
  if (text.empty()) return BadTime(text);
  absl::Duration total = absl::ZeroDuration();
  size_t next_unit = 0;  // units must come largest first, each once
  size_t pos = 0;
  while (pos < text.size()) {
    size_t digits_end = pos;
    while (digits_end < text.size() && std::isdigit(static_cast<unsigned char>(text[digits_end]))) {
      ++digits_end;
    }
    // Ten digits already overflow any sane duration; refusing them early keeps the sum finite.
    if (digits_end == pos || digits_end == text.size() || digits_end - pos > 9) {
      return BadTime(text);
    }
    int64_t value = 0;
    if (!absl::SimpleAtoi(text.substr(pos, digits_end - pos), &value)) return BadTime(text);
    char suffix = static_cast<char>(std::tolower(static_cast<unsigned char>(text[digits_end])));
    size_t unit = next_unit;
    while (unit < units.size() && units[unit].suffix != suffix) ++unit;
    if (unit == units.size()) return BadTime(text);
    total += value * units[unit].size;
    next_unit = unit + 1;
    pos = digits_end + 1;
  }
  if (total <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("duration '", text, "' must be more than zero"));
  }
  if (total > absl::Hours(24 * 36525)) {
    return absl::InvalidArgumentError(absl::StrCat("duration '", text, "' is more than 100 years"));
  }
  return total;
}

absl::StatusOr<absl::Time> ParseTimeArg(absl::string_view text, absl::Time now, Relative relative) {
  // A time always starts with a four-digit year; a duration never has a '-' or ':' in it.
  if (text.find_first_of("-:T") != absl::string_view::npos) {
    absl::Time t;
    std::string err;
    const std::string time_text(text);
    if (!absl::ParseTime(absl::RFC3339_full, time_text, &t, &err)) return BadTime(text);
    return t;
  }
  absl::StatusOr<absl::Duration> d = ParseDuration(text);
  if (!d.ok()) return d.status();
  // Whole seconds: "due in 12h" is recorded as 08:00:00, not 08:00:00.381285030.
  absl::Time base = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  return relative == Relative::kFuture ? base + *d : base - *d;
}

std::string FormatUtc(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%MZ", t, absl::UTCTimeZone());
}

std::string FormatUtcSeconds(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string HumanizeDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) return "-";
  if (d < absl::ZeroDuration()) return absl::StrCat("-", HumanizeDuration(-d));
  int64_t seconds = absl::ToInt64Seconds(d);
  constexpr int64_t kMinute = 60, kHour = 60 * kMinute, kDay = 24 * kHour;
  auto two_units = [](int64_t big, const char* big_name, int64_t small, const char* small_name) {
    if (small == 0) return absl::StrCat(big, big_name);
    return absl::StrCat(big, big_name, small, small_name);
  };
  if (seconds >= kDay) return two_units(seconds / kDay, "d", seconds % kDay / kHour, "h");
  if (seconds >= kHour) return two_units(seconds / kHour, "h", seconds % kHour / kMinute, "m");
  if (seconds >= kMinute) return absl::StrCat(seconds / kMinute, "m");
  return absl::StrCat(seconds, "s");
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t seconds = absl::ToUnixSeconds(t);
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return ts;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts, bool has) {
  return has ? FormatUtc(FromTimestamp(ts)) : "";
}

}  // namespace camfleet::cli
