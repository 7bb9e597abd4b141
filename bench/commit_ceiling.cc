#include "bench/commit_ceiling.h"

#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "common/sqlite.h"
#include "common/status_macros.h"

namespace camfleet::bench {
namespace {

// Commits one-row transactions one at a time for `duration` (after `warmup`).
absl::StatusOr<std::pair<double, LatencySummary>> CommitOneAtATime(common::Database& db,
                                                                   absl::Duration warmup,
                                                                   absl::Duration duration) {
  // About the size of one audit event's details.
  const std::string payload(160, 'x');
  std::vector<int64_t> latencies;
  const int64_t start = MonotonicNanos();
  const int64_t begin = start + absl::ToInt64Nanoseconds(warmup);
  const int64_t end = begin + absl::ToInt64Nanoseconds(duration);
  int64_t now = start;
  while (now < end) {
    const int64_t t0 = MonotonicNanos();
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    {
      ASSIGN_OR_RETURN(common::Statement insert,
                       db.Prepare("INSERT INTO bench_commit (created_us, payload) VALUES (?, ?)"));
      insert.Bind(1, t0).Bind(2, payload);
      RETURN_IF_ERROR(insert.Run());
    }
    RETURN_IF_ERROR(db.Exec("COMMIT"));
    now = MonotonicNanos();
    if (t0 >= begin) latencies.push_back(now - t0);
  }
  const double rate = static_cast<double>(latencies.size()) / absl::ToDoubleSeconds(duration);
  return std::make_pair(rate, Summarize(std::move(latencies)));
}

}  // namespace

absl::StatusOr<CommitCeiling> MeasureCommitCeiling(const std::string& path,
                                                   absl::Duration duration) {
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(path));
  RETURN_IF_ERROR(
      db->Exec("CREATE TABLE bench_commit (id INTEGER PRIMARY KEY, created_us INTEGER NOT NULL, "
               "payload TEXT NOT NULL);"
               "CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);"));
  CommitCeiling out;
  // While the WAL file grows, every fsync also commits the file system's metadata (the new
  // size); shown for reference, it is not what a running store pays.
  ASSIGN_OR_RETURN(std::tie(out.growing_commits_per_s, out.growing_latency),
                   CommitOneAtATime(*db, absl::ZeroDuration(), duration / 3));
  // Grow the WAL past the auto-checkpoint size once (1000 pages); after the checkpoint the
  // next commits write over the WAL's start, within the file's size, as a long-running
  // store's commits do.
  RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  for (int i = 0; i < 1200; ++i) {
    ASSIGN_OR_RETURN(common::Statement fill,
                     db->Prepare("INSERT INTO bench_filler (payload) VALUES (zeroblob(4000))"));
    RETURN_IF_ERROR(fill.Run());
  }
  RETURN_IF_ERROR(db->Exec("COMMIT"));
  RETURN_IF_ERROR(db->Exec("PRAGMA wal_checkpoint(PASSIVE)"));
  ASSIGN_OR_RETURN(std::tie(out.commits_per_s, out.latency),
                   CommitOneAtATime(*db, absl::Seconds(0.5), duration));
  return out;
}

}  // namespace camfleet::bench
