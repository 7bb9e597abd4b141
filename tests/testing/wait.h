#pragma once
// Waiting for something another thread or process does, without bare sleeps that race.

#include <functional>

#include "absl/time/time.h"

namespace camfleet::testing {

// Polls `condition` every 20 ms (real time) until it holds or `deadline` passes; the last
// answer after the deadline counts.
bool WaitFor(const std::function<bool()>& condition, absl::Duration deadline = absl::Seconds(60));

}  // namespace camfleet::testing
