#include "services/storage/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/migration.h"
#include "common/status_macros.h"
#include "services/storage/migrations.h"
#include "services/storage/wal_write_batch.h"

namespace camfleet::storage {

namespace {

absl::Status RefuseCorrupt(const std::string& path, const absl::Status& s) {
  if (s.code() != absl::StatusCode::kDataLoss) return s;
  return absl::DataLossError(
      absl::StrCat("database ", path, " is corrupt (", s.message(),
                   "); the server will not run on it: restore it from a backup"));
}

// PRAGMA quick_check: every page readable, b-trees well formed, records sane; it skips
// integrity_check's cross-check of every index against its table, so it costs one pass over the
// file (150 MB: 0.22 s from the page cache, integrity_check 0.34 s) instead of a sort per index.
absl::Status QuickCheck(common::Database& db) {
  absl::StatusOr<common::Statement> check = db.Prepare("PRAGMA quick_check(20)");
  if (!check.ok()) return RefuseCorrupt(db.path(), check.status());
  std::vector<std::string> problems;
  while (true) {
    absl::StatusOr<bool> row = check->Step();
    if (!row.ok()) return RefuseCorrupt(db.path(), row.status());
    if (!*row) break;
    std::string line = check->ColumnText(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "database ", db.path(), " is corrupt (PRAGMA quick_check found: ",
      absl::StrJoin(problems, "; "), "); the server will not run on it: restore it from a backup"));
}

// Transaction control (BEGIN, SAVEPOINT, RELEASE, COMMIT...) through the connection's statement
// cache: parsed once per connection instead of once per write by sqlite3_exec.
absl::Status RunCached(common::Database& db, absl::string_view sql) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  return s.Run();
}

// PRAGMA data_version: moves when another connection commits to the file (not for this one's).
absl::StatusOr<int64_t> DataVersion(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare("PRAGMA data_version"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("PRAGMA data_version returned no row");
  return s.ColumnInt(0);
}

}  // namespace

namespace {

// SQLite's own allocator (mem1.c: malloc and free), to which JournalChunks delegates.
sqlite3_mem_methods base_memory;
// What base_memory.xSize says of a block allocated for kJournalChunk bytes.
int journal_chunk_size = -1;
// SQLite keeps an in-memory statement journal (temp_store=MEMORY) in chunks of this many bytes
// (memjournal.c: MEMJOURNAL_DFLT_FILECHUNKSIZE), each allocated with sqlite3_malloc.
constexpr int kJournalChunk = 1024;
constexpr int kPooledPerThread = 256;

// Free journal chunks kept by one thread for its next allocations of kJournalChunk bytes.
struct ChunkPool {
  std::array<void*, kPooledPerThread> chunks{};
  int count = 0;
  ~ChunkPool();
};
thread_local ChunkPool chunk_pool;
// False once this thread's pool is destroyed (thread exit): frees then go to base_memory.
thread_local bool chunk_pool_alive = true;
ChunkPool::~ChunkPool() {
  chunk_pool_alive = false;
  for (int i = 0; i < count; ++i) base_memory.xFree(chunks[static_cast<size_t>(i)]);
}

void* JournalChunksMalloc(int n) {
  if (n == kJournalChunk && chunk_pool_alive && chunk_pool.count > 0) {
    return chunk_pool.chunks[static_cast<size_t>(--chunk_pool.count)];
  }
  return base_memory.xMalloc(n);
}
void JournalChunksFree(void* p) {
  if (p != nullptr && chunk_pool_alive && chunk_pool.count < kPooledPerThread &&
      base_memory.xSize(p) == journal_chunk_size) {
    chunk_pool.chunks[static_cast<size_t>(chunk_pool.count++)] = p;
    return;
  }
  base_memory.xFree(p);
}
void* JournalChunksRealloc(void* p, int n) { return base_memory.xRealloc(p, n); }
int JournalChunksSize(void* p) { return base_memory.xSize(p); }
int JournalChunksRoundup(int n) { return base_memory.xRoundup(n); }
int JournalChunksInit(void* app) { return base_memory.xInit(app); }
void JournalChunksShutdown(void* app) { base_memory.xShutdown(app); }

// Every write runs under its own SAVEPOINT, so SQLite copies each page the write changes into
// the statement journal first: about 57 chunks of 1 KiB allocated and freed again at the
// RELEASE for a lifecycle write, a tenth of the writer's instructions in malloc and free
// (glibc's per-thread cache holds only 7 blocks of a size). This keeps up to
// kPooledPerThread freed blocks of that size per thread for the next allocations; everything
// else goes to SQLite's own allocator unchanged.
int InstallJournalChunkPool() {
  int rc = sqlite3_config(SQLITE_CONFIG_GETMALLOC, &base_memory);
  if (rc != SQLITE_OK) return rc;
  if (base_memory.xMalloc == nullptr || base_memory.xSize == nullptr) return SQLITE_ERROR;
  void* probe = base_memory.xMalloc(kJournalChunk);
  if (probe == nullptr) return SQLITE_NOMEM;
  journal_chunk_size = base_memory.xSize(probe);
  base_memory.xFree(probe);
  static const sqlite3_mem_methods pooled = {
      JournalChunksMalloc,  JournalChunksFree, JournalChunksRealloc,  JournalChunksSize,
      JournalChunksRoundup, JournalChunksInit, JournalChunksShutdown, nullptr};
  return sqlite3_config(SQLITE_CONFIG_MALLOC, &pooled);
}

}  // namespace

bool ConfigureSqliteForStore() {
  static const bool applied = [] {
    // SQLITE_MISUSE once SQLite has started: then the defaults stay, which only costs time.
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK &&
           InstallJournalChunkPool() == SQLITE_OK;
  }();
  return applied;
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const common::Clock& clock,
                                                   const StoreOptions& options) {
  ConfigureSqliteForStore();
  // Every connection from here on writes a commit's WAL frames with one write (see there).
  RETURN_IF_ERROR(InstallWalWriteBatching());
  std::unique_ptr<Store> store(new Store(path, clock, options));
  if (options.must_exist) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrCat("database ", path, " does not exist (", std::strerror(errno),
                       "); check the path, or create a new fleet with `camfleetd init`"));
    }
  }
  absl::StatusOr<std::unique_ptr<common::Database>> writer = common::Database::Open(path);
  if (!writer.ok()) return RefuseCorrupt(path, writer.status());
  store->writer_db_ = *std::move(writer);
  if (options.check_at_open) RETURN_IF_ERROR(QuickCheck(*store->writer_db_));
  RETURN_IF_ERROR(common::ApplyMigrations(*store->writer_db_, Migrations()));
  // From here COMMIT only writes the WAL; the syncer makes it durable before anyone is told.
  RETURN_IF_ERROR(store->writer_db_->Exec("PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(store->OpenWalForSync());
  RETURN_IF_ERROR(store->SyncDirectory());
  ASSIGN_OR_RETURN(store->checkpoint_db_, common::Database::Open(path));
  // Replaces SQLite's auto-checkpoint, which would run inside the writer's COMMIT.
  sqlite3_wal_hook(store->writer_db_->handle(), &Store::OnWalCommit, store.get());
  {
    absl::MutexLock lock(&store->readers_mu_);
    for (int i = 0; i < options.reader_connections; ++i) {
      ASSIGN_OR_RETURN(auto reader, common::Database::Open(path));
      store->idle_readers_.push_back(std::move(reader));
    }
  }
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  store->syncer_ = std::thread([s = store.get()] { s->SyncerLoop(); });
  store->completer_ = std::thread([s = store.get()] { s->CompleterLoop(); });
  store->checkpointer_ = std::thread([s = store.get()] { s->CheckpointerLoop(); });
  // Named so `top -H` and perf tell the store's threads apart.
  pthread_setname_np(store->writer_.native_handle(), "store-writer");
  pthread_setname_np(store->syncer_.native_handle(), "store-syncer");
  pthread_setname_np(store->completer_.native_handle(), "store-complete");
  pthread_setname_np(store->checkpointer_.native_handle(), "store-ckpt");
  return store;
}

absl::Status Store::SyncDirectory() {
  // A file that was just created (the WAL, made when the first connection opened the database;
  // the database itself, by init) is durable only once its directory entry is: fdatasync of the
  // file does not write the directory. SQLite syncs directories only for rollback journals.
  std::string dir = path_;
  const size_t slash = dir.find_last_of('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("opening directory ", dir, " to sync it: ", std::strerror(errno)));
  }
  absl::Status synced;
  if (options_.sync_directory) {
    synced = options_.sync_directory(fd);
  } else if (::fsync(fd) != 0) {
    synced = absl::UnavailableError(absl::StrCat(
        "fsync of directory ", dir, " failed: ", std::strerror(errno), "; check the disk"));
  }
  ::close(fd);
  return synced;
}

absl::Status Store::OpenWalForSync() {
  // The WAL exists once the writer connection has read the database (the migrations did). It
  // keeps its inode while any connection is open: SQLite rewrites it from the start after a
  // checkpoint but deletes it only when the last connection closes. fdatasync works on a
  // read-only descriptor and flushes the file whoever wrote it.
  const std::string wal = path_ + "-wal";
  wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("opening ", wal, " to sync it: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

Store::~Store() {
  Shutdown();
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

void Store::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  if (syncer_.joinable()) syncer_.join();
  if (completer_.joinable()) completer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
}

void Store::Write(WriteFn fn, WriteDone done, absl::Time deadline) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (sync_failed_) {
      refused = absl::UnavailableError(
          "the store stopped taking writes after an fsync of its WAL failed; check the disk and "
          "restart the server");
    } else if (stopping_) {
      refused =
          absl::UnavailableError("the store is shutting down; retry against the restarted server");
    } else if (static_cast<int64_t>(queue_.size()) >= options_.max_queued_writes) {
      ++stats_.queue_full_refusals;
      refused = absl::UnavailableError(absl::StrCat(
          "the server is busy: ", queue_.size(),
          " writes are waiting for the disk; nothing was written, retry in a moment with "
          "backoff"));
    } else {
      queue_.push_back(Job{std::move(fn), std::move(done), deadline});
      return;
    }
  }
  done(std::move(refused));
}

absl::Status Store::health() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

void Store::OnFailure(absl::AnyInvocable<void(const absl::Status&)> listener) {
  absl::Status failure;
  {
    absl::MutexLock lock(&mu_);
    if (!sync_failed_) {
      on_failure_ = std::move(listener);
      return;
    }
    failure = failure_;
  }
  listener(failure);
}

absl::Status Store::WriteAndWait(WriteFn fn) {
  std::promise<absl::Status> promise;
  std::future<absl::Status> result = promise.get_future();
  Write(std::move(fn), [&promise](absl::Status s) { promise.set_value(std::move(s)); });
  return result.get();
}

absl::Status Store::ReadForPrecheck(absl::FunctionRef<absl::Status(common::Database&)> fn) {
  return ReadSnapshot(fn);
}

absl::Status Store::Read(absl::FunctionRef<absl::Status(common::Database&)> fn) {
  absl::Status status = ReadSnapshot(fn);
  // The snapshot held at most the groups committed by now; wait until they are durable.
  absl::MutexLock lock(&mu_);
  const int64_t seen = committed_seq_;
  auto durable = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return synced_seq_ >= seen || sync_failed_ || syncer_done_;
  };
  mu_.Await(absl::Condition(&durable));
  if (synced_seq_ < seen && status.ok()) {
    status = absl::UnavailableError(
        "the read may include writes that could not be made durable (fsync of the WAL failed)");
  }
  return status;
}

absl::Status Store::ReadSnapshot(absl::FunctionRef<absl::Status(common::Database&)> fn) {
  std::unique_ptr<common::Database> db;
  {
    absl::MutexLock lock(&readers_mu_);
    readers_mu_.Await(absl::Condition(
        +[](std::vector<std::unique_ptr<common::Database>>* v) { return !v->empty(); },
        &idle_readers_));
    db = std::move(idle_readers_.back());
    idle_readers_.pop_back();
  }
  absl::Status status = RunCached(*db, "BEGIN");
  if (status.ok()) {
    status = fn(*db);
    absl::Status end = RunCached(*db, status.ok() ? "COMMIT" : "ROLLBACK");
    if (status.ok()) status = end;
  }
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(std::move(db));
  return status;
}

Store::WriteIntent Store::AnnounceWrite() {
  absl::MutexLock lock(&mu_);
  ++announced_;
  return WriteIntent(this);
}

Store::WriteIntent::~WriteIntent() {
  if (store_ == nullptr) return;
  absl::MutexLock lock(&store_->mu_);
  --store_->announced_;
}

StoreStats Store::stats() const {
  absl::MutexLock lock(&mu_);
  StoreStats stats = stats_;
  stats.queued = static_cast<int64_t>(queue_.size());
  stats.running = running_;
  stats.awaiting_sync = awaiting_sync_;
  stats.answering = answering_;
  return stats;
}

void Store::WriterLoop() {
  std::vector<Job> group;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Store* s)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return s->stopping_ || !s->queue_.empty(); },
          this));
      if (queue_.empty() && stopping_) {
        writer_done_ = true;
        return;
      }
      auto take = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        while (!queue_.empty() && static_cast<int>(group.size()) < options_.max_group_size) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      };
      take();
      // Writes announced but not queued yet (their slow work is still running): hold the group
      // open a little for them. An intent is released just after its write is queued, so the
      // wait ends once the queue holds as many writes as intents are still held.
      if (announced_ > 0 && options_.group_wait > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](Store* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
                                   return s->stopping_ ||
                                          static_cast<int>(s->queue_.size()) >= s->announced_;
                                 },
                                 this),
                             options_.group_wait);
        take();
      }
      running_ = static_cast<int64_t>(group.size());
    }
    if (options_.metrics.group_writes != nullptr) {
      options_.metrics.group_writes->Observe(static_cast<double>(group.size()));
    }
    FinishedGroup finished;
    int64_t commits = 0;
    bool failed_before;
    {
      absl::MutexLock lock(&mu_);
      failed_before = sync_failed_;
    }
    if (failed_before) {
      // After a failed fsync nothing more is committed: a later fsync may "succeed" without the
      // pages the failed one lost, and must not make anything look durable (see SyncerLoop).
      finished.results.assign(
          group.size(),
          absl::UnavailableError(
              "the store stopped taking writes after an fsync of its WAL failed; check the disk "
              "and restart the server"));
    } else {
      finished.results = CommitGroup(group, commits);
    }
    finished.jobs = std::move(group);
    group.clear();  // moved from: make it empty for sure
    absl::MutexLock lock(&mu_);
    finished.committed = commits > 0;
    // CommitGroup advanced committed_seq_ before its first COMMIT (see there).
    finished.seq = committed_seq_;
    stats_.commits += commits;
    for (const absl::Status& r : finished.results) stats_.writes += r.ok() ? 1 : 0;
    running_ = 0;
    awaiting_sync_ += static_cast<int64_t>(finished.jobs.size());
    to_sync_.push_back(std::move(finished));
  }
}

namespace {

// A write refused inside a transaction that was then undone (lost, or its COMMIT failed) may
// have been refused because of an earlier write of the same transaction, which no longer
// exists: its refusal is not an answer about the database. Tell it what happened instead.
absl::Status RefusalOnUndoneWrites(const absl::Status& refusal, const absl::Status& cause) {
  return absl::Status(
      cause.code() == absl::StatusCode::kResourceExhausted ? cause.code()
                                                           : absl::StatusCode::kUnavailable,
      absl::StrCat("the write was refused (", refusal.message(),
                   ") while writes committed with it were pending, and those were then rolled "
                   "back (",
                   cause.message(), "); the refusal may not hold: nothing was written, retry it"));
}

absl::Status RolledBackWithGroup(const absl::Status& cause) {
  return absl::Status(cause.code() == absl::StatusCode::kResourceExhausted
                          ? cause.code()
                          : absl::StatusCode::kUnavailable,
                      absl::StrCat("the write was rolled back with its commit group (",
                                   cause.message(), "); nothing was written, retry it"));
}

}  // namespace

std::vector<absl::Status> Store::CommitGroup(std::vector<Job>& group, int64_t& commits) {
  common::Database& db = *writer_db_;
  std::vector<absl::Status> results(group.size());
  size_t next = 0;  // first job not yet run
  bool seq_taken = false;
  // After the transaction [first, end) is undone by `cause`: no write of it stands, and a
  // refusal that came after a write which did is rewritten (RefusalOnUndoneWrites). `loser`
  // (the write whose failure ended the transaction) keeps its own error.
  auto undo = [&](size_t first, size_t end, size_t loser, const absl::Status& cause) {
    bool earlier_ok = false;
    for (size_t i = first; i < end; ++i) {
      group[i].after_commit.clear();
      if (i == loser) continue;
      if (results[i].ok()) {
        results[i] = RolledBackWithGroup(cause);
        earlier_ok = true;
      } else if (earlier_ok && results[i].code() != absl::StatusCode::kDeadlineExceeded) {
        results[i] = RefusalOnUndoneWrites(results[i], cause);
      }
    }
  };
  while (next < group.size()) {
    absl::Status begin = RunCached(db, "BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (size_t i = next; i < group.size(); ++i) {
        results[i] = common::Annotate(begin, "starting a write transaction");
      }
      break;
    }
    {
      // The cached audit head is only good while this connection alone writes the file.
      absl::StatusOr<int64_t> version = DataVersion(db);
      if (!version.ok() || *version != data_version_) audit_head_.known = false;
      data_version_ = version.ok() ? *version : -1;
    }
    const absl::Time now = clock_.Now();
    const size_t first = next;
    bool transaction_lost = false;
    for (; next < group.size() && !transaction_lost; ++next) {
      if (group[next].deadline < absl::Now()) {
        // Its caller has given up (and may be retrying): doing it now would do it twice.
        results[next] = absl::DeadlineExceededError(
            "the call's deadline passed while the write waited for the disk; nothing was "
            "written");
        absl::MutexLock lock(&mu_);
        ++stats_.deadline_drops;
        continue;
      }
      const AuditChainHead head_before = audit_head_;
      absl::Status s = RunCached(db, "SAVEPOINT job");
      if (s.ok()) {
        WriteTx tx(db, now, &audit_head_);
        s = group[next].fn(tx);
        if (s.ok()) {
          s = RunCached(db, "RELEASE job");
          if (s.ok()) {
            group[next].after_commit = tx.TakeAfterCommit();
          } else {
            audit_head_.known = false;
          }
        } else if (sqlite3_get_autocommit(db.handle()) == 0) {
          // Undo only this job's changes; the rest of the group goes on.
          absl::Status undo_job = RunCached(db, "ROLLBACK TO job");
          if (undo_job.ok()) undo_job = RunCached(db, "RELEASE job");
          // The rollback took back any audit event the job appended.
          audit_head_ = head_before;
          if (!undo_job.ok()) {
            common::LogError("rolling back a failed write: ", undo_job.message());
            audit_head_.known = false;
          }
        }
      }
      results[next] = std::move(s);
      // Some failures (SQLITE_FULL, IOERR, a RAISE(ROLLBACK)) end the whole transaction, not
      // just the savepoint. Then the jobs before this one were undone too and must not be
      // acknowledged; the jobs after it start again in a new transaction.
      if (sqlite3_get_autocommit(db.handle()) != 0) transaction_lost = true;
    }
    if (transaction_lost) {
      audit_head_.known = false;  // the audit events of the undone writes are gone
      const size_t loser = next - 1;
      common::LogError("a write transaction of ", next - first,
                       " writes was rolled back by a failing write: ", results[loser].message());
      undo(first, next, loser, results[loser]);
      continue;
    }
    bool any_ok = false;
    for (size_t i = first; i < next; ++i) any_ok = any_ok || results[i].ok();
    if (!any_ok) {
      // Every write failed and was rolled back: nothing to commit, nothing to fsync.
      RunCached(db, "ROLLBACK").IgnoreError();
      audit_head_.known = false;
      continue;
    }
    if (!seq_taken) {
      // Before the first COMMIT, so that a reader that could see this group's writes also
      // waits for its fsync (Read compares committed_seq_ with synced_seq_).
      absl::MutexLock lock(&mu_);
      ++committed_seq_;
      seq_taken = true;
    }
    common::Histogram* const commit_seconds = options_.metrics.commit_seconds;
    const absl::Time commit_start = commit_seconds != nullptr ? absl::Now() : absl::InfinitePast();
    absl::Status commit = RunCached(db, "COMMIT");
    if (commit_seconds != nullptr) {
      commit_seconds->Observe(absl::ToDoubleSeconds(absl::Now() - commit_start));
    }
    if (!commit.ok()) {
      RunCached(db, "ROLLBACK").IgnoreError();
      audit_head_.known = false;  // the group's audit events went with it
      common::LogError("group commit of ", next - first, " writes failed: ", commit.message());
      undo(first, next, next, common::Annotate(commit, "COMMIT failed"));
      continue;
    }
    ++commits;
    // Committed: the writes' in-memory consequences may happen now, before the next group.
    for (size_t i = first; i < next; ++i) {
      for (auto& fn : group[i].after_commit) std::move(fn)();
      group[i].after_commit.clear();
    }
  }
  return results;
}

absl::Status Store::SyncWal() {
  if (options_.sync_wal) return options_.sync_wal(wal_fd_);
  if (::fdatasync(wal_fd_) != 0) {
    return absl::UnavailableError(
        absl::StrCat("fdatasync of ", path_, "-wal failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void Store::SyncerLoop() {
  while (true) {
    std::deque<FinishedGroup> batch;
    bool failed_before = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Store* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->writer_done_ || !s->to_sync_.empty();
          },
          this));
      if (to_sync_.empty()) {  // and the writer is done
        syncer_done_ = true;
        return;
      }
      batch.swap(to_sync_);
      failed_before = sync_failed_;
    }
    bool any_committed = false;
    int64_t seq = 0;
    for (const FinishedGroup& g : batch) {
      any_committed = any_committed || g.committed;
      seq = std::max(seq, g.seq);
    }
    // One fdatasync makes every frame written so far durable: the WAL is append-only between
    // checkpoints, and a checkpoint syncs the WAL before it copies anything out of it.
    absl::Status synced;
    if (failed_before) {
      // Linux may drop the dirty pages of a failed fsync and report the next one as a success:
      // once one has failed, no later sync proves anything.
      synced = absl::UnavailableError("an earlier fsync of the WAL failed");
    } else if (any_committed) {
      common::Histogram* const sync_seconds = options_.metrics.sync_seconds;
      const absl::Time sync_start = sync_seconds != nullptr ? absl::Now() : absl::InfinitePast();
      synced = SyncWal();
      if (sync_seconds != nullptr) {
        sync_seconds->Observe(absl::ToDoubleSeconds(absl::Now() - sync_start));
      }
    }
    if (!synced.ok()) {
      synced = absl::DataLossError(
          absl::StrCat("the write was committed but could not be made durable (", synced.message(),
                       "); it may be lost in a crash: check the disk"));
      common::LogError("store: ", synced.message(), "; refusing further writes");
    }
    absl::AnyInvocable<void(const absl::Status&)> tell;
    absl::Status failure;
    {
      absl::MutexLock lock(&mu_);
      if (synced.ok()) {
        synced_seq_ = std::max(synced_seq_, seq);
        if (any_committed) ++stats_.syncs;
      } else if (!sync_failed_) {
        sync_failed_ = true;
        failure_ = absl::UnavailableError(
            absl::StrCat("the store stopped taking writes: ", synced.message()));
        failure = failure_;
        tell = std::move(on_failure_);
      }
      for (FinishedGroup& g : batch) {
        const auto n = static_cast<int64_t>(g.jobs.size());
        awaiting_sync_ -= n;
        answering_ += n;
        if (!synced.ok()) {
          for (absl::Status& r : g.results) {
            if (r.ok()) r = synced;
          }
        }
        if (!tell) to_complete_.push_back(std::move(g));
      }
    }
    if (tell) {
      // The listener runs before the writes of the failed sync are answered, so a caller that
      // hears DATA_LOSS finds the server already NOT_SERVING. Outside the lock: the listener
      // may call back into the store (health()).
      tell(failure);
      absl::MutexLock lock(&mu_);
      for (FinishedGroup& g : batch) to_complete_.push_back(std::move(g));
    }
  }
}

void Store::CompleterLoop() {
  while (true) {
    std::deque<FinishedGroup> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Store* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->syncer_done_ || !s->to_complete_.empty();
          },
          this));
      if (to_complete_.empty()) return;  // and the syncer is done
      batch.swap(to_complete_);
    }
    int64_t answered = 0;
    for (FinishedGroup& g : batch) {
      for (size_t i = 0; i < g.jobs.size(); ++i) g.jobs[i].done(std::move(g.results[i]));
      answered += static_cast<int64_t>(g.jobs.size());
    }
    absl::MutexLock lock(&mu_);
    answering_ -= answered;
  }
}

}  // namespace camfleet::storage

namespace camfleet::storage {

namespace {
// The writer checkpoints inline, whatever is left to copy, once the WAL reaches this many times
// `checkpoint_pages`.
constexpr int kMaxWalFactor = 8;
}  // namespace

int Store::OnWalCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* store = static_cast<Store*>(self);
  const int threshold = store->options_.checkpoint_pages;
  if (threshold <= 0) return SQLITE_OK;
  bool restart;
  {
    absl::MutexLock lock(&store->mu_);
    // A WAL that shrank was started afresh by this commit.
    store->stats_.wal_frames += pages >= store->wal_pages_ ? pages - store->wal_pages_ : pages;
    store->wal_pages_ = pages;
    if (pages < store->wal_backfilled_) store->wal_backfilled_ = 0;
    const int pending = pages - store->wal_backfilled_;
    // A checkpoint resets the WAL only if it copied every frame before the next write began,
    // which the checkpointer hardly ever manages while the writer keeps appending. Here
    // nothing is appending, so past kMaxWalFactor x the threshold the writer copies what is
    // left (less than a threshold's worth: the checkpointer keeps up) and the next transaction
    // starts the WAL afresh. Not sooner: it costs the writer two fsyncs.
    restart = pages >= kMaxWalFactor * threshold;
    // The checkpointer copies only once a threshold's worth of new frames has piled up: a
    // checkpoint copies each page once however often it was rewritten and ends with an fsync
    // of the database file, so copying a few frames after every commit costs many times the
    // I/O.
    if (!restart && pending >= threshold) store->checkpoint_wanted_ = true;
  }
  if (!restart) return SQLITE_OK;
  int copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
  const bool failed = rc != SQLITE_OK && rc != SQLITE_BUSY;
  if (failed) common::LogError("store: inline checkpoint failed: ", sqlite3_errstr(rc));
  absl::MutexLock lock(&store->mu_);
  ++store->stats_.inline_checkpoints;
  if (failed) ++store->stats_.checkpoint_failures;
  if (rc == SQLITE_OK) store->wal_backfilled_ = copied;
  return SQLITE_OK;
}

void Store::CheckpointerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Store* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->writer_done_ || s->checkpoint_wanted_;
          },
          this));
      if (writer_done_) return;  // closing the last connection checkpoints anyway
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what no reader still needs, never waits for readers or the writer. It
    // syncs the WAL before copying and the database file after, so it never makes anything
    // less durable.
    const absl::Time start = absl::Now();
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->handle(), "main",
                                             SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
    const int64_t micros = absl::ToInt64Microseconds(absl::Now() - start);
    const bool failed = rc != SQLITE_OK && rc != SQLITE_BUSY;
    if (failed) common::LogError("store: checkpoint failed: ", sqlite3_errstr(rc));
    absl::MutexLock lock(&mu_);
    if (failed) ++stats_.checkpoint_failures;
    const bool progressed = rc == SQLITE_OK && copied > wal_backfilled_;
    if (rc == SQLITE_OK) wal_backfilled_ = copied;
    // Commits during this checkpoint asked for another one, judged against the old mark. If
    // this one copied nothing new (a reader still needs the frames), the next commit asks again.
    checkpoint_wanted_ = progressed && wal_pages_ - wal_backfilled_ >= options_.checkpoint_pages;
    ++stats_.checkpoints;
    stats_.checkpoint_micros += micros;
  }
}

}  // namespace camfleet::storage
