// Retrying calls to the control plane: only UNAVAILABLE is retried, waits grow with jitter and
// are capped, and the attempts are bounded.

#include "agent/retry.h"

#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;

RetryPolicy Recording(std::vector<absl::Duration>* waits) {
  RetryPolicy p;
  p.max_attempts = 6;
  p.initial_backoff = absl::Seconds(1);
  p.max_backoff = absl::Seconds(8);
  p.sleep = [waits](absl::Duration d) { waits->push_back(d); };
  return p;
}

TEST(RetryTest, UnavailableIsRetriedUntilItWorks) {
  std::vector<absl::Duration> waits;
  int calls = 0;
  int attempts = 0;
  absl::Status s = RetryUnavailable(
      Recording(&waits),
      [&] { return ++calls < 3 ? absl::UnavailableError("link down") : absl::OkStatus(); },
      &attempts);
  EXPECT_THAT(s, IsOk());
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(waits.size(), 2u);
}

TEST(RetryTest, OtherErrorsAreAnswersAndNotRetried) {
  std::vector<absl::Duration> waits;
  int attempts = 0;
  absl::Status s = RetryUnavailable(
      Recording(&waits), [] { return absl::PermissionDeniedError("no"); }, &attempts);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(attempts, 1);
  EXPECT_TRUE(waits.empty());
}

TEST(RetryTest, AttemptsAreBoundedAndTheLastErrorIsReturned) {
  std::vector<absl::Duration> waits;
  int attempts = 0;
  absl::Status s = RetryUnavailable(
      Recording(&waits), [] { return absl::UnavailableError("still down"); }, &attempts);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, "still down"));
  EXPECT_EQ(attempts, 6);
  EXPECT_EQ(waits.size(), 5u);
}

TEST(RetryTest, WaitsDoubleWithJitterAndStopAtTheCap) {
  RetryPolicy p;
  p.initial_backoff = absl::Seconds(1);
  p.max_backoff = absl::Seconds(8);
  Backoff backoff(p, /*seed=*/42);
  const absl::Duration caps[] = {absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                 absl::Seconds(8), absl::Seconds(8), absl::Seconds(8)};
  for (absl::Duration cap : caps) {
    const absl::Duration wait = backoff.Next();
    EXPECT_GE(wait, cap / 2);
    EXPECT_LE(wait, cap);
  }
}

TEST(RetryTest, JitterSpreadsCallersApart) {
  RetryPolicy p;
  std::vector<absl::Duration> first_waits;
  for (uint64_t seed = 1; seed <= 8; ++seed) first_waits.push_back(Backoff(p, seed).Next());
  std::sort(first_waits.begin(), first_waits.end());
  EXPECT_LT(first_waits.front(), first_waits.back()) << "eight docks would retry in lockstep";
}

}  // namespace
}  // namespace camfleet::agent
