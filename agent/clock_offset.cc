#include "agent/clock_offset.h"

#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "provisioning/file_io.h"

namespace camfleet::agent {
namespace {

constexpr size_t kMaxFileBytes = 1024;

// The directory `path` is in ("." for a bare name).
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

absl::Status ClockOffset::Load() {
  if (path_.empty() || !provisioning::PathExists(path_)) return absl::OkStatus();
  ASSIGN_OR_RETURN(provisioning::FileContents file,
                   provisioning::ReadSmallFile(path_, kMaxFileBytes));
  std::map<std::string, int64_t> values;
  for (absl::string_view line : absl::StrSplit(file.data, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    int64_t value = 0;
    if (!absl::SimpleAtoi(kv.second, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(path_, " is damaged: '", line, "'"));
    }
    values[kv.first] = value;
  }
  for (const char* key : {"offset_us", "round_trip_us", "measured_at_us"}) {
    if (!values.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(path_, " is damaged: no ", key));
    }
  }
  ClockOffsetSample sample{absl::Microseconds(values["offset_us"]),
                           absl::Microseconds(values["round_trip_us"]),
                           absl::FromUnixMicros(values["measured_at_us"])};
  absl::MutexLock lock(&mu_);
  latest_ = sample;
  stored_ = sample.offset;
  return absl::OkStatus();
}

absl::Status ClockOffset::Record(absl::Time sent, absl::Time received, absl::Time server_time) {
  if (received < sent) {
    return absl::InvalidArgumentError(
        "the dock's clock went back during the call; the measurement is not used");
  }
  const absl::Duration round_trip = received - sent;
  const ClockOffsetSample sample{server_time - (sent + round_trip / 2), round_trip, received};
  bool store = false;
  {
    absl::MutexLock lock(&mu_);
    latest_ = sample;
    store = !path_.empty() &&
            (!stored_.has_value() || absl::AbsDuration(*stored_ - sample.offset) >= kPersistStep);
  }
  if (!store) return absl::OkStatus();
  RETURN_IF_ERROR(Store(sample));
  absl::MutexLock lock(&mu_);
  stored_ = sample.offset;
  return absl::OkStatus();
}

absl::Status ClockOffset::Store(const ClockOffsetSample& sample) const {
  const std::string text =
      absl::StrCat("offset_us=", absl::ToInt64Microseconds(sample.offset),
                   "\nround_trip_us=", absl::ToInt64Microseconds(sample.round_trip),
                   "\nmeasured_at_us=", absl::ToUnixMicros(sample.measured_at), "\n");
  // A new file renamed over the old one: a crash leaves the old offset or the new, whole.
  const std::string tmp = path_ + ".tmp";
  ::unlink(tmp.c_str());  // a crashed write's leftover
  RETURN_IF_ERROR(provisioning::WriteNewFile(tmp, text, 0644));
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("replacing ", path_, ": ", std::strerror(errno)));
  }
  return provisioning::SyncDirectory(DirectoryOf(path_));
}

std::optional<ClockOffsetSample> ClockOffset::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

absl::Duration ClockOffset::Offset() const {
  absl::MutexLock lock(&mu_);
  return latest_.has_value() ? latest_->offset : absl::ZeroDuration();
}

std::string DescribeClockOffset(absl::string_view whose, absl::Duration offset) {
  // To the nearest second: a measurement is no better, and "9m59s" for 10 minutes less a
  // microsecond of rounding would only puzzle.
  const absl::Duration whole =
      absl::Floor(absl::AbsDuration(offset) + absl::Milliseconds(500), absl::Seconds(1));
  if (whole == absl::ZeroDuration())
    return absl::StrCat(whose, " clock is in step with the server");
  return absl::StrCat(whose, " clock is ", absl::FormatDuration(whole), " ",
                      offset > absl::ZeroDuration() ? "slow" : "fast", " against the server");
}

}  // namespace camfleet::agent
