#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace camfleet::common {
namespace {
std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
constexpr const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
}  // namespace

void SetMinLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

void LogLine(LogLevel level, absl::string_view message) {
  if (static_cast<int>(level) < min_level.load()) return;
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
      kNames[static_cast<int>(level)], " ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace camfleet::common
