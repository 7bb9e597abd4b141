#pragma once
// How the agent writes times for people: RFC 3339 UTC to the second.

#include <string>

#include "absl/time/time.h"

namespace camfleet::agent {

inline std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace camfleet::agent
