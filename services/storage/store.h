#pragma once
// The control plane's store: one SQLite file, one writer thread that commits queued write
// transactions in groups, and a small pool of reader connections.
//
// Group commit: every write is a function run inside a shared transaction under its own
// SAVEPOINT. A function that fails is rolled back alone; the rest of the group commits together.
//
// The commit is pipelined over three threads so that no thread waits for what another can do:
//   writer     runs a group's functions and COMMITs it into the WAL (synchronous=NORMAL: COMMIT
//              writes the WAL frames but does not fsync), then takes the next group at once;
//   syncer     fdatasyncs the WAL file once for every group committed since its last sync;
//   completer  runs the completion callbacks of synced groups, in commit order.
//   checkpointer copies the WAL back into the database file (a PASSIVE checkpoint on its own
//              connection) when the WAL passes `checkpoint_pages`, so the writer does not stop
//              for it either; only if the WAL outgrows 8x that (checkpoints starved by a
//              writer that never pauses) does the writer checkpoint inline, to bound the file.
// So a write's callback runs only after its frames are on disk: an acknowledged write survives a
// crash or power cut, exactly as with synchronous=FULL, but the writer is never idle during an
// fsync and one fsync covers every group committed while the previous one ran. Reads wait, before
// returning, until everything committed when they finished is durable, so no reader ever sees a
// write that could still vanish in a crash (see Read).

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/call_deadline.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/sqlite.h"

namespace camfleet::storage {

// The newest event of the audit chain as the writer last appended or read it, so that an append
// (audit_log.h) need not read the head back from the table each time. Kept by the store on its
// writer thread, equal to the table's head at every point of a transaction: the store puts back
// the value from before a write (or a TrySavepoint step) that it rolls back, and forgets it when a
// whole transaction is undone or another connection changed the file.
struct AuditChainHead {
  bool known = false;
  int64_t seq = 0;
  std::array<char, 32> hash{};
  // The latest time of any event in the chain (the head's, unless the clock stepped back), for
  // recording late events (audit_late_events, migration 0014).
  int64_t latest_time_us = 0;
};

// What a write function gets: the writer connection, inside a transaction, and the commit time.
class WriteTx {
 public:
  WriteTx(common::Database& db, absl::Time now, AuditChainHead* audit_head = nullptr)
      : db_(db), now_(now), audit_head_(audit_head) {}
  common::Database& db() { return db_; }
  absl::Time now() const { return now_; }
  // The cached head of the audit chain; null when there is none (then every append reads it).
  AuditChainHead* audit_head() { return audit_head_; }
  // Runs `fn` on the writer thread right after the COMMIT of the transaction holding this write
  // succeeds, before any later group runs; never if this write is rolled back (its own failure,
  // or the loss of the whole transaction, or a failed COMMIT). For in-memory state that mirrors
  // the database (the revocation set): changing it inside the write would leave it changed when
  // the write is undone. `fn` must be quick and must not wait for the store.
  void AfterCommit(absl::AnyInvocable<void() &&> fn) { after_commit_.push_back(std::move(fn)); }
  std::vector<absl::AnyInvocable<void() &&>> TakeAfterCommit() {
    return std::exchange(after_commit_, {});
  }

 private:
  common::Database& db_;
  absl::Time now_;
  AuditChainHead* audit_head_;
  std::vector<absl::AnyInvocable<void() &&>> after_commit_;
};

using WriteFn = absl::AnyInvocable<absl::Status(WriteTx&)>;
using WriteDone = absl::AnyInvocable<void(absl::Status)>;

// Histograms the store feeds as it works (camfleetd's /metrics); each may be null. Owned by the
// caller and must outlive the store. Observing is a few relaxed atomics, no lock.
struct StoreMetrics {
  common::Histogram* group_writes = nullptr;    // writes the writer took as one group
  common::Histogram* commit_seconds = nullptr;  // each COMMIT (writes WAL frames, no fsync)
  common::Histogram* sync_seconds = nullptr;    // each fdatasync of the WAL
};

struct StoreOptions {
  int reader_connections = 4;
  // Most write functions in one commit.
  int max_group_size = 512;
  // Makes the WAL (open as `fd`) durable; empty means fdatasync. Tests put a slow or failing
  // disk here: it is the one piece of hardware the store talks to.
  std::function<absl::Status(int fd)> sync_wal;
  // Longest the writer holds a group open for writes announced with AnnounceWrite.
  absl::Duration group_wait = absl::Milliseconds(2);
  // WAL pages appended since the last checkpoint that wake the checkpointer (SQLite's own
  // auto-checkpoint size); at 8x this the writer restarts the WAL itself. 0 turns both off.
  int checkpoint_pages = 1000;
  // Most writes waiting for the writer; past it Write answers UNAVAILABLE at once (callers back
  // off and retry) instead of queuing without limit while the disk is slow.
  int max_queued_writes = 10'000;
  // Makes the directory holding the database durable (open as `fd`) once the WAL exists, so
  // the WAL's directory entry survives a power cut; empty means fsync. Tests count or fail it.
  std::function<absl::Status(int fd)> sync_directory{};
  // Open refuses a missing database file (NOT_FOUND) instead of creating it: `serve` runs on a
  // database `init` made, and a mistyped path must not start an empty fleet.
  bool must_exist = false;
  // Checks the file at open with `PRAGMA quick_check` and refuses a corrupt one (DATA_LOSS,
  // saying so). Its cost grows with the file (O(N), no index cross-check).
  bool check_at_open = true;
  StoreMetrics metrics{};
};

struct StoreStats {
  int64_t commits = 0;
  int64_t writes = 0;
  int64_t syncs = 0;        // fdatasyncs of the WAL; each covers every commit since the last one
  int64_t checkpoints = 0;  // by the checkpointer
  int64_t checkpoint_micros = 0;    // time the checkpointer spent in them
  int64_t inline_checkpoints = 0;   // by the writer, because the WAL grew past 8x the threshold
  int64_t wal_frames = 0;           // pages appended to the WAL by commits
  int64_t checkpoint_failures = 0;  // checkpoints that failed (not merely busy), either kind
  int64_t queue_full_refusals = 0;  // writes refused because the queue was full
  int64_t deadline_drops = 0;       // writes not run because their caller's deadline had passed
  int64_t queued = 0;               // writes waiting for the writer now
  // Where the writes taken from the queue are now (each a gauge like `queued`): in the group
  // the writer is running, committed and waiting for the WAL's fdatasync, durable and being
  // answered (their callbacks not run yet). With `queued` and a call rate they say where a
  // write's time goes (Little's law: mean count / rate = mean time in that stage).
  int64_t running = 0;
  int64_t awaiting_sync = 0;
  int64_t answering = 0;
};

// Process-wide SQLite settings for the store, applied once and only if SQLite has not started
// yet (sqlite3_config works only before sqlite3_initialize): Store::Open calls it first, so in
// camfleetd, where the store is the first user of SQLite, they always apply; a program that
// uses SQLite before opening a store (a benchmark's own ceilings) calls it at its start.
// - SQLite's memory statistics off (SQLITE_CONFIG_MEMSTATUS). They take a process-wide mutex
//   around every allocation and free SQLite makes, about 250 per lifecycle write on the writer;
//   camfleet reads none of them (sqlite3_memory_used, the soft heap limit).
// - SQLite's allocator wrapped (SQLITE_CONFIG_MALLOC) so that each thread keeps a few hundred
//   freed blocks of the size of SQLite's in-memory journal chunks (1 KiB) for reuse: a
//   lifecycle write's savepoint journals ~57 of them, allocated and freed again at its RELEASE.
//   Every other allocation goes to SQLite's own allocator unchanged.
// Returns whether the settings are in force.
bool ConfigureSqliteForStore();

class Store {
 public:
  // Opens or creates the database at `path`, applies migrations and starts the writer.
  // Errors: from SQLite (UNAVAILABLE, DATA_LOSS) and FAILED_PRECONDITION for a database newer
  // than this binary.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const common::Clock& clock,
                                                     const StoreOptions& options = {});
  // Finishes every queued write, then stops.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Queues `fn`; `done` runs on the completion thread once the group holding it is committed and
  // durable (with fn's status), or failed to commit. Callbacks run one at a time in commit order,
  // so `done` must be quick; it may call Read and Write but must not wait for a Write.
  // After Shutdown, `done` gets UNAVAILABLE at once. If the WAL cannot be fsynced the store
  // stops taking writes (UNAVAILABLE) and the writes of the groups concerned get DATA_LOSS:
  // they are committed but maybe not durable.
  // The queue is bounded (StoreOptions::max_queued_writes): when it is full `done` gets
  // UNAVAILABLE at once, with nothing written. A write whose `deadline` (real time: a gRPC
  // deadline) has passed when the writer reaches it is not run: `done` gets DEADLINE_EXCEEDED
  // and nothing is written, so a caller that gave up and retries does not do the work twice.
  void Write(WriteFn fn, WriteDone done, absl::Time deadline = absl::InfiniteFuture());
  // Write, waiting for the result. Not for use on the writer thread.
  absl::Status WriteAndWait(WriteFn fn);

  // Runs `fn` on a reader connection inside a read transaction (one consistent snapshot). Before
  // returning, waits until every group committed by then is durable: a snapshot may include a
  // group whose fsync is still running, and a reader must not act on (or show) a write that a
  // crash could still undo. Under write load that costs a read at most one fsync.
  absl::Status Read(absl::FunctionRef<absl::Status(common::Database&)> fn);
  // Read without the wait for durability, for a precheck that only decides whether a write is
  // worth queuing (e.g. before spending a signature) and whose conclusions the write re-checks
  // inside its own transaction. It may see a committed write whose fsync is still running; a
  // refusal resting on such a write concerns a write that was not acknowledged either, and a
  // crash that undoes it leaves the caller's retry to see the truth. Never answer a caller with
  // data from it: use Read for that.
  absl::Status ReadForPrecheck(absl::FunctionRef<absl::Status(common::Database&)> fn);

  // Held by a caller that will queue a write soon, after slow work (an enrollment being signed):
  // while any is held and not yet queued, the writer holds a group open up to
  // StoreOptions::group_wait for them, so writes that trickle in one by one behind the slow
  // work share a commit and an fsync instead of paying one each. Release it (destroy it) once
  // the write is queued or will not be.
  class WriteIntent {
   public:
    WriteIntent() = default;
    WriteIntent(WriteIntent&& other) noexcept : store_(std::exchange(other.store_, nullptr)) {}
    WriteIntent& operator=(WriteIntent&& other) noexcept {
      std::swap(store_, other.store_);
      return *this;
    }
    ~WriteIntent();

   private:
    friend class Store;
    explicit WriteIntent(Store* store) : store_(store) {}
    Store* store_ = nullptr;
  };
  WriteIntent AnnounceWrite();

  // Stops accepting writes and waits for the queued ones to finish.
  void Shutdown();

  // OK while the store takes writes; after an fsync of the WAL failed, the reason (the store
  // then refuses every write until restarted).
  absl::Status health() const;
  // Called once, from a store thread, when the store stops taking writes because the disk
  // failed (with the reason); at once if that has already happened. The server turns its gRPC
  // health status to NOT_SERVING with it. Set it once, before anyone depends on it.
  void OnFailure(absl::AnyInvocable<void(const absl::Status&)> listener);

  const common::Clock& clock() const { return clock_; }
  const std::string& path() const { return path_; }
  StoreStats stats() const;

 private:
  struct Job {
    WriteFn fn;
    WriteDone done;
    absl::Time deadline = absl::InfiniteFuture();
    // The write's WriteTx::AfterCommit functions, kept from its RELEASE until the COMMIT.
    std::vector<absl::AnyInvocable<void() &&>> after_commit{};
  };
  // A group the writer has finished: its jobs with their results, waiting to be synced (if any
  // of them committed) and then completed.
  struct FinishedGroup {
    std::vector<Job> jobs;
    std::vector<absl::Status> results;
    bool committed = false;
    int64_t seq = 0;  // the value of committed_seq_ after this group
  };

  Store(std::string path, const common::Clock& clock, const StoreOptions& options)
      : path_(std::move(path)), clock_(clock), options_(options) {}
  absl::Status OpenWalForSync();
  absl::Status SyncDirectory();
  absl::Status ReadSnapshot(absl::FunctionRef<absl::Status(common::Database&)> fn);
  void WriterLoop();
  // Runs and commits `group`; the results are in the same order as the jobs.
  std::vector<absl::Status> CommitGroup(std::vector<Job>& group, int64_t& commits);
  absl::Status SyncWal();
  void SyncerLoop();
  void CompleterLoop();
  void CheckpointerLoop();
  // sqlite3_wal_hook on the writer connection: runs inside each COMMIT with the WAL's size.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);

  const std::string path_;
  const common::Clock& clock_;
  const StoreOptions options_;

  std::unique_ptr<common::Database> writer_db_;  // used only by the writer thread
  // The audit chain's head as of the writer's transaction (see AuditChainHead); writer only.
  AuditChainHead audit_head_;
  // PRAGMA data_version of the writer's connection at its last transaction: it moves when
  // another connection commits, and then audit_head_ may be stale. Writer only.
  int64_t data_version_ = -1;
  int wal_fd_ = -1;                                  // the -wal file, used only by the syncer
  std::unique_ptr<common::Database> checkpoint_db_;  // used only by the checkpointer
  std::thread writer_;
  std::thread syncer_;
  std::thread completer_;
  std::thread checkpointer_;

  mutable absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<FinishedGroup> to_sync_ ABSL_GUARDED_BY(mu_);
  std::deque<FinishedGroup> to_complete_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;     // no new writes
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;  // the writer has exited
  bool syncer_done_ ABSL_GUARDED_BY(mu_) = false;  // the syncer has exited
  bool sync_failed_ ABSL_GUARDED_BY(mu_) = false;  // an fsync failed: no more writes
  absl::Status failure_ ABSL_GUARDED_BY(mu_);      // why, once sync_failed_
  absl::AnyInvocable<void(const absl::Status&)> on_failure_ ABSL_GUARDED_BY(mu_);
  bool checkpoint_wanted_ ABSL_GUARDED_BY(mu_) = false;
  // WAL frames the last checkpoint copied back; frames past it are what a checkpoint would copy.
  int wal_backfilled_ ABSL_GUARDED_BY(mu_) = 0;
  int wal_pages_ ABSL_GUARDED_BY(mu_) = 0;
  int announced_ ABSL_GUARDED_BY(mu_) = 0;  // WriteIntents held
  // StoreStats' running, awaiting_sync, answering.
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t awaiting_sync_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t answering_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;  // groups committed (in the WAL)
  int64_t synced_seq_ ABSL_GUARDED_BY(mu_) = 0;     // groups durable
  StoreStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<common::Database>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
};

// Runs `fn(tx, response)` as a write and hands the filled response to `done` once committed, or
// the error. The usual shape of a service's write method. The write carries the deadline of the
// RPC being handled on this thread (common::CurrentCallDeadline, set by rpc::HandleWrite), so a
// write whose caller gave up before the writer reached it is not done (Store::Write).
template <typename Resp, typename Fn>
void WriteWithResponse(Store& store, Fn fn, absl::AnyInvocable<void(absl::StatusOr<Resp>)> done) {
  auto resp = std::make_shared<Resp>();
  store.Write(
      [fn = std::move(fn), resp](WriteTx& tx) mutable -> absl::Status { return fn(tx, *resp); },
      [resp, done = std::move(done)](absl::Status s) mutable {
        if (s.ok()) {
          done(std::move(*resp));
        } else {
          done(std::move(s));
        }
      },
      common::CurrentCallDeadline());
}

}  // namespace camfleet::storage
