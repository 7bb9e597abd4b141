#include "agent/retry.h"

#include <algorithm>
#include <random>

#include "absl/time/clock.h"

namespace camfleet::agent {

Backoff::Backoff(const RetryPolicy& policy, uint64_t seed)
    : policy_(policy),
      cap_(std::min(policy.initial_backoff, policy.max_backoff)),
      gen_(std::seed_seq{seed}) {}

absl::Duration Backoff::Next() {
  const absl::Duration cap = cap_;
  cap_ = std::min(cap_ * policy_.multiplier, policy_.max_backoff);
  const double fraction = absl::Uniform(absl::IntervalClosedClosed, gen_, 0.5, 1.0);
  return cap * fraction;
}

absl::Status RetryUnavailable(const RetryPolicy& policy, absl::FunctionRef<absl::Status()> call,
                              int* attempts) {
  Backoff backoff(policy, absl::Uniform<uint64_t>(absl::BitGen()));
  absl::Status status;
  int n = 0;
  while (true) {
    status = call();
    ++n;
    if (status.code() != absl::StatusCode::kUnavailable || n >= policy.max_attempts) break;
    const absl::Duration wait = backoff.Next();
    if (policy.sleep) {
      policy.sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
  }
  if (attempts != nullptr) *attempts = n;
  return status;
}

}  // namespace camfleet::agent
