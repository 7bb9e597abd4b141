#pragma once
// Where the store's writer thread spends its time, measured from outside the store: installed
// on the writer's own connection through a write (write functions run on the writer thread and
// can reach the connection), it times every statement and every COMMIT, and replaces SQLite's
// default auto-checkpoint hook with one that does the same thing (a PASSIVE checkpoint once the
// WAL holds the configured number of frames, on the committing thread) and times it. If the
// store put a WAL hook of its own on the connection, that hook stays and checkpoints are not
// timed here.
//
// For experiments it can also change the writer connection's settings; the benchmark labels
// every figure taken that way as not the store's.

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
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

struct StatementCost {
  std::string sql;
  int64_t calls = 0;
  int64_t nanos = 0;
};

class WriterProbe {
 public:
  WriterProbe() = default;
  WriterProbe(const WriterProbe&) = delete;
  WriterProbe& operator=(const WriterProbe&) = delete;

  struct Experiment {
    int cache_mb = 0;                // > 0: the writer connection's page cache, in MiB
    bool temp_store_memory = false;  // statement journals in memory, never in a temp file
  };
  // Errors: from SQLite.
  absl::Status Install(storage::Store& store, const Experiment& experiment);
  // Puts back SQLite's own auto-checkpoint (same threshold) and settings, removes the timing.
  absl::Status Remove(storage::Store& store);

  WriterTotals Snapshot() const;
  // Time per statement text since the last reset, costliest first.
  void ResetStatementCosts();
  std::vector<StatementCost> StatementCosts() const;
  int autocheckpoint_pages() const { return threshold_; }
  // False when the writer's connection had a WAL hook of its own (the store checkpoints by
  // itself, elsewhere): checkpoints are then not timed here.
  bool times_checkpoints() const { return replaced_wal_hook_; }

 private:
  static int OnTrace(unsigned type, void* ctx, void* p, void* x);
  static int OnWal(void* ctx, sqlite3* db, const char* name, int frames);
  void Checkpoint(sqlite3* db, const char* name);

  int threshold_ = 1000;
  int saved_cache_size_ = 0;
  int saved_temp_store_ = 0;
  Experiment experiment_;
  bool installed_ = false;
  bool replaced_wal_hook_ = false;
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> commit_ns_{0};
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> checkpoint_ns_{0};
  std::atomic<int64_t> checkpoint_frames_{0};
  std::atomic<int64_t> statements_{0};
  std::atomic<int64_t> statement_ns_{0};

  mutable absl::Mutex costs_mu_;
  // Keyed by the SQL text: statements run through sqlite3_exec are prepared afresh each time,
  // so a statement's address says nothing.
  absl::flat_hash_map<std::string, StatementCost> costs_ ABSL_GUARDED_BY(costs_mu_);
};

}  // namespace camfleet::bench
