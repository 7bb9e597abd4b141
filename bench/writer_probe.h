#pragma once
// Where the store's writer thread spends its time, measured from outside the store: installed
// on the writer's own connection through a write (write functions run on the writer thread and
// can reach the connection), it times every statement and every COMMIT, and replaces SQLite's
// default auto-checkpoint hook with one that does the same thing (a PASSIVE checkpoint once the
// WAL holds the configured number of frames, on the committing thread) and times it.
//
// For experiments it can also change the writer connection's settings; the benchmark labels
// every figure taken that way as not the store's.

#include <sqlite3.h>

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "services/storage/store.h"

namespace camfleet::bench {

struct WriterTotals {
  int64_t commits = 0;
  int64_t commit_ns = 0;  // COMMIT statements, including any checkpoint run inside them
  int64_t checkpoints = 0;
  int64_t checkpoint_ns = 0;
  int64_t checkpoint_frames = 0;  // frames copied back into the database file
  int64_t statements = 0;         // statements run, COMMIT and BEGIN included
  int64_t statement_ns = 0;       // time inside statements other than COMMIT
};

class WriterProbe {
 public:
  WriterProbe() = default;
  WriterProbe(const WriterProbe&) = delete;
  WriterProbe& operator=(const WriterProbe&) = delete;

  struct Experiment {
    int cache_mb = 0;                 // > 0: the writer connection's page cache, in MiB
    bool synchronous_normal = false;  // COMMIT without fsync: NOT durable, an upper bound only
  };
  // Errors: from SQLite.
  absl::Status Install(storage::Store& store, const Experiment& experiment);
  // Puts back SQLite's own auto-checkpoint (same threshold) and settings, removes the timing.
  absl::Status Remove(storage::Store& store);

  WriterTotals Snapshot() const;
  int autocheckpoint_pages() const { return threshold_; }

 private:
  static int OnTrace(unsigned type, void* ctx, void* p, void* x);
  static int OnWal(void* ctx, sqlite3* db, const char* name, int frames);
  void Checkpoint(sqlite3* db, const char* name);

  int threshold_ = 1000;
  int saved_cache_size_ = 0;
  Experiment experiment_;
  bool installed_ = false;
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> commit_ns_{0};
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> checkpoint_ns_{0};
  std::atomic<int64_t> checkpoint_frames_{0};
  std::atomic<int64_t> statements_{0};
  std::atomic<int64_t> statement_ns_{0};
};

}  // namespace camfleet::bench
