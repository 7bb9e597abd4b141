#include "services/storage/store.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/migration.h"
#include "common/status_macros.h"
#include "services/storage/migrations.h"

namespace camfleet::storage {

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const common::Clock& clock,
                                                   const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store(path, clock, options));
  ASSIGN_OR_RETURN(store->writer_db_, common::Database::Open(path));
  RETURN_IF_ERROR(common::ApplyMigrations(*store->writer_db_, Migrations()));
  {
    absl::MutexLock lock(&store->readers_mu_);
    for (int i = 0; i < options.reader_connections; ++i) {
      ASSIGN_OR_RETURN(auto reader, common::Database::Open(path));
      store->idle_readers_.push_back(std::move(reader));
    }
  }
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

Store::~Store() { Shutdown(); }

void Store::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void Store::Write(WriteFn fn, WriteDone done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Job{std::move(fn), std::move(done)});
      return;
    }
  }
  done(absl::UnavailableError("the store is shutting down; retry against the restarted server"));
}

absl::Status Store::WriteAndWait(WriteFn fn) {
  std::promise<absl::Status> promise;
  std::future<absl::Status> result = promise.get_future();
  Write(std::move(fn), [&promise](absl::Status s) { promise.set_value(std::move(s)); });
  return result.get();
}

absl::Status Store::Read(absl::FunctionRef<absl::Status(common::Database&)> fn) {
  std::unique_ptr<common::Database> db;
  {
    absl::MutexLock lock(&readers_mu_);
    readers_mu_.Await(absl::Condition(
        +[](std::vector<std::unique_ptr<common::Database>>* v) { return !v->empty(); },
        &idle_readers_));
    db = std::move(idle_readers_.back());
    idle_readers_.pop_back();
  }
  absl::Status status = db->Exec("BEGIN");
  if (status.ok()) {
    status = fn(*db);
    absl::Status end = db->Exec(status.ok() ? "COMMIT" : "ROLLBACK");
    if (status.ok()) status = end;
  }
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(std::move(db));
  return status;
}

StoreStats Store::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Store::WriterLoop() {
  std::vector<Job> group;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Store* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ || !s->queue_.empty();
          },
          this));
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && static_cast<int>(group.size()) < options_.max_group_size) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(group);
    group.clear();
  }
}

void Store::CommitGroup(std::vector<Job>& group) {
  common::Database& db = *writer_db_;
  std::vector<absl::Status> results(group.size());
  size_t next = 0;  // first job not yet run
  int64_t commits = 0;
  int64_t writes = 0;
  while (next < group.size()) {
    absl::Status begin = db.Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (size_t i = next; i < group.size(); ++i) {
        results[i] = common::Annotate(begin, "starting a write transaction");
      }
      break;
    }
    const absl::Time now = clock_.Now();
    const size_t first = next;
    bool transaction_lost = false;
    for (; next < group.size() && !transaction_lost; ++next) {
      absl::Status s = db.Exec("SAVEPOINT job");
      if (s.ok()) {
        WriteTx tx(db, now);
        s = group[next].fn(tx);
        if (s.ok()) {
          s = db.Exec("RELEASE job");
        } else if (sqlite3_get_autocommit(db.handle()) == 0) {
          // Undo only this job's changes; the rest of the group goes on.
          absl::Status undo = db.Exec("ROLLBACK TO job");
          if (undo.ok()) undo = db.Exec("RELEASE job");
          if (!undo.ok()) common::LogError("rolling back a failed write: ", undo.message());
        }
      }
      results[next] = std::move(s);
      // Some failures (SQLITE_FULL, IOERR, a RAISE(ROLLBACK)) end the whole transaction, not
      // just the savepoint. Then the jobs before this one were undone too and must not be
      // acknowledged; the jobs after it start again in a new transaction.
      if (sqlite3_get_autocommit(db.handle()) != 0) transaction_lost = true;
    }
    if (transaction_lost) {
      for (size_t i = first; i + 1 < next; ++i) {
        if (results[i].ok()) {
          results[i] = absl::UnavailableError(
              "the write was rolled back with its commit group after another write failed; "
              "retry it");
        }
      }
      continue;
    }
    absl::Status commit = db.Exec("COMMIT");
    if (!commit.ok()) {
      db.Exec("ROLLBACK").IgnoreError();
      common::LogError("group commit of ", next - first, " writes failed: ", commit.message());
      for (size_t i = first; i < next; ++i) {
        if (results[i].ok()) {
          results[i] = absl::UnavailableError(absl::StrCat("commit failed: ", commit.message()));
        }
      }
      continue;
    }
    ++commits;
    for (size_t i = first; i < next; ++i) writes += results[i].ok() ? 1 : 0;
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.commits += commits;
    stats_.writes += writes;
  }
  for (size_t i = 0; i < group.size(); ++i) group[i].done(std::move(results[i]));
}

}  // namespace camfleet::storage
