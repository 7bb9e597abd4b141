#include "tests/testing/wait.h"

#include "absl/time/clock.h"

namespace camfleet::testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration deadline) {
  const absl::Time until = absl::Now() + deadline;
  while (absl::Now() < until) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

}  // namespace camfleet::testing
