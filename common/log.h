#pragma once
// Minimal leveled logging to stderr, one line per message with a UTC timestamp.
// Never pass keys, tokens or other secrets.

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace camfleet::common {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetMinLogLevel(LogLevel level);
void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) { LogLine(LogLevel::kInfo, absl::StrCat(args...)); }
template <typename... Args>
void LogWarning(const Args&... args) { LogLine(LogLevel::kWarning, absl::StrCat(args...)); }
template <typename... Args>
void LogError(const Args&... args) { LogLine(LogLevel::kError, absl::StrCat(args...)); }

}  // namespace camfleet::common
