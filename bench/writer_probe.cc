#include "bench/writer_probe.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "bench/closed_loop.h"
#include "common/status_macros.h"

namespace camfleet::bench {
namespace {

bool IsCommit(void* stmt) {
  const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
  return sql != nullptr && std::strcmp(sql, "COMMIT") == 0;
}

// Per writer thread: when the COMMIT being timed started, and whether it has ended. Only the
// writer thread touches these (trace and WAL hooks run on the connection's thread).
thread_local int64_t commit_start_ns = 0;
thread_local bool commit_open = false;
// When each statement open on this thread started (statements can be open side by side).
thread_local absl::flat_hash_map<void*, int64_t> statement_start;

}  // namespace

// Reads one integer PRAGMA on the writer's connection.
absl::StatusOr<int64_t> PragmaInt(common::Database& db, const char* pragma) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat("PRAGMA ", pragma)));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError(absl::StrCat("PRAGMA ", pragma, " returned no row"));
  return s.ColumnInt(0);
}

absl::Status WriterProbe::Install(storage::Store& store, const Experiment& experiment) {
  experiment_ = experiment;
  return store.WriteAndWait([this](storage::WriteTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t threshold, PragmaInt(tx.db(), "wal_autocheckpoint"));
    ASSIGN_OR_RETURN(int64_t cache, PragmaInt(tx.db(), "cache_size"));
    ASSIGN_OR_RETURN(int64_t temp_store, PragmaInt(tx.db(), "temp_store"));
    threshold_ = static_cast<int>(threshold);
    saved_cache_size_ = static_cast<int>(cache);
    saved_temp_store_ = static_cast<int>(temp_store);
    // Takes effect from the next transaction: SQLite decides where a transaction's statement
    // journal lives when the transaction begins.
    if (experiment_.temp_store_memory) RETURN_IF_ERROR(tx.db().Exec("PRAGMA temp_store=MEMORY"));
    if (experiment_.cache_mb > 0) {
      RETURN_IF_ERROR(
          tx.db().Exec(absl::StrCat("PRAGMA cache_size = -", experiment_.cache_mb * 1024)));
    }
    sqlite3* db = tx.db().handle();
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, &WriterProbe::OnTrace, this);
    // SQLite's own auto-checkpoint (the pragma reads 0 when a connection has a WAL hook of its
    // own) is replaced by an identical timed one; Remove puts it back. A hook the store
    // installed itself (e.g. to checkpoint on another thread) is left alone: replacing it would
    // change what is measured, and SQLite cannot chain to it.
    replaced_wal_hook_ = threshold_ > 0;
    if (replaced_wal_hook_) sqlite3_wal_hook(db, &WriterProbe::OnWal, this);
    installed_ = true;
    return absl::OkStatus();
  });
}

absl::Status WriterProbe::Remove(storage::Store& store) {
  if (!installed_) return absl::OkStatus();
  installed_ = false;
  return store.WriteAndWait([this](storage::WriteTx& tx) -> absl::Status {
    sqlite3* db = tx.db().handle();
    sqlite3_trace_v2(db, 0, nullptr, nullptr);
    if (replaced_wal_hook_) sqlite3_wal_autocheckpoint(db, threshold_);
    if (experiment_.temp_store_memory) {
      RETURN_IF_ERROR(tx.db().Exec(absl::StrCat("PRAGMA temp_store = ", saved_temp_store_)));
    }
    if (experiment_.cache_mb == 0) return absl::OkStatus();
    return tx.db().Exec(absl::StrCat("PRAGMA cache_size = ", saved_cache_size_));
  });
}

WriterTotals WriterProbe::Snapshot() const {
  WriterTotals t;
  t.commits = commits_.load();
  t.commit_ns = commit_ns_.load();
  t.checkpoints = checkpoints_.load();
  t.checkpoint_ns = checkpoint_ns_.load();
  t.checkpoint_frames = checkpoint_frames_.load();
  t.statements = statements_.load();
  t.statement_ns = statement_ns_.load();
  return t;
}

void WriterProbe::ResetStatementCosts() {
  absl::MutexLock lock(&costs_mu_);
  costs_.clear();
}

std::vector<StatementCost> WriterProbe::StatementCosts() const {
  std::vector<StatementCost> out;
  {
    absl::MutexLock lock(&costs_mu_);
    for (const auto& [key, cost] : costs_) out.push_back(cost);
  }
  std::sort(out.begin(), out.end(),
            [](const StatementCost& a, const StatementCost& b) { return a.nanos > b.nanos; });
  return out;
}

int WriterProbe::OnTrace(unsigned type, void* ctx, void* p, void* /*x*/) {
  auto* self = static_cast<WriterProbe*>(ctx);
  const int64_t now = MonotonicNanos();
  auto record = [&](int64_t nanos) {
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(p));
    if (sql == nullptr) return;
    absl::MutexLock lock(&self->costs_mu_);
    auto it = self->costs_.find(absl::string_view(sql));
    if (it == self->costs_.end()) it = self->costs_.emplace(sql, StatementCost{sql, 0, 0}).first;
    StatementCost& c = it->second;
    c.calls += 1;
    c.nanos += nanos;
  };
  if (!IsCommit(p)) {
    if (type == SQLITE_TRACE_STMT) {
      self->statements_ += 1;
      statement_start.insert_or_assign(p, now);
    } else if (type == SQLITE_TRACE_PROFILE) {
      auto it = statement_start.find(p);
      if (it != statement_start.end()) {
        self->statement_ns_ += now - it->second;
        record(now - it->second);
        statement_start.erase(it);
      }
    }
    return 0;
  }
  if (type == SQLITE_TRACE_STMT) {
    self->statements_ += 1;
    commit_start_ns = now;
    commit_open = true;
  } else if (type == SQLITE_TRACE_PROFILE && commit_open) {
    // SQLite's own elapsed time has millisecond resolution; this clock does not.
    self->commit_ns_ += now - commit_start_ns;
    self->commits_ += 1;
    record(now - commit_start_ns);
    commit_open = false;
  }
  return 0;
}

int WriterProbe::OnWal(void* ctx, sqlite3* db, const char* name, int frames) {
  auto* self = static_cast<WriterProbe*>(ctx);
  if (self->threshold_ <= 0 || frames < self->threshold_) return SQLITE_OK;
  const int64_t t0 = MonotonicNanos();
  self->Checkpoint(db, name);
  // If SQLite reports the COMMIT's end before calling this hook, the checkpoint still belongs
  // to the commit's cost: it ran inside the same sqlite3_step on the writer thread.
  if (!commit_open) self->commit_ns_ += MonotonicNanos() - t0;
  return SQLITE_OK;
}

void WriterProbe::Checkpoint(sqlite3* db, const char* name) {
  int log_frames = 0;
  int copied = 0;
  const int64_t t0 = MonotonicNanos();
  sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
  checkpoint_ns_ += MonotonicNanos() - t0;
  checkpoints_ += 1;
  if (copied > 0) checkpoint_frames_ += copied;
}

}  // namespace camfleet::bench
