#pragma once
// Retrying a call to the control plane while it is UNAVAILABLE (link down, server restarting),
// with exponential backoff and full jitter, so that a post's docks coming back together do not
// call in lockstep. Other errors are answers, and are returned at once.

#include <cstdint>
#include <functional>

#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace camfleet::agent {

struct RetryPolicy {
  // Tries in all, the first included.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  double multiplier = 2.0;
  // How the caller waits; absl::SleepFor when empty. Tests record the waits instead.
  std::function<void(absl::Duration)> sleep;
};

// The waits between attempts: attempt n (from 0) waits a uniformly random time in
// [cap/2, cap], cap = min(initial * multiplier^n, max). Half the cap is kept fixed so a retry
// never comes at once; the other half spreads callers out.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy, uint64_t seed);
  absl::Duration Next();

 private:
  RetryPolicy policy_;
  absl::Duration cap_;
  absl::BitGen gen_;
};

// Calls `call` until it returns something other than UNAVAILABLE or the attempts run out, and
// returns its last status. `attempts`, if not null, gets how many calls were made.
absl::Status RetryUnavailable(const RetryPolicy& policy, absl::FunctionRef<absl::Status()> call,
                              int* attempts = nullptr);

}  // namespace camfleet::agent
