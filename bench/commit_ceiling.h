#pragma once
// The durable-commit ceiling: one-row transactions committed one at a time on a fresh SQLite
// file opened exactly as the store opens its own (common::Database::Open: WAL,
// synchronous=FULL). Each pays its own fsync, the cost the store's group commit shares out.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"

namespace camfleet::bench {

struct CommitCeiling {
  double commits_per_s = 0;  // steady state: the WAL's space is reused, as in a running store
  LatencySummary latency;
  double growing_commits_per_s = 0;  // a fresh file whose WAL grows with every commit
  LatencySummary growing_latency;
};

// Creates the database at `path` (which must not exist). The growing-WAL rate is taken for
// duration/3 first, then the WAL is grown past its auto-checkpoint size once and the steady rate
// taken for `duration` after half a second of warm-up. Errors: SQLite's.
absl::StatusOr<CommitCeiling> MeasureCommitCeiling(const std::string& path,
                                                   absl::Duration duration);

}  // namespace camfleet::bench
