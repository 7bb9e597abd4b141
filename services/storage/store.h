#pragma once
// The control plane's store: one SQLite file, one writer thread that commits queued write
// transactions in groups, and a small pool of reader connections.
//
// Group commit: every write is a function run inside a shared transaction under its own
// SAVEPOINT. A function that fails is rolled back alone; the rest of the group commits with one
// fsync (synchronous=FULL in WAL mode). A write's completion callback runs only after COMMIT has
// returned, so an acknowledged write is on disk.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace camfleet::storage {

// What a write function gets: the writer connection, inside a transaction, and the commit time.
class WriteTx {
 public:
  WriteTx(common::Database& db, absl::Time now) : db_(db), now_(now) {}
  common::Database& db() { return db_; }
  absl::Time now() const { return now_; }

 private:
  common::Database& db_;
  absl::Time now_;
};

using WriteFn = absl::AnyInvocable<absl::Status(WriteTx&)>;
using WriteDone = absl::AnyInvocable<void(absl::Status)>;

struct StoreOptions {
  int reader_connections = 4;
  // Most write functions in one commit.
  int max_group_size = 512;
};

struct StoreStats {
  int64_t commits = 0;
  int64_t writes = 0;
};

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

  // Queues `fn`; `done` runs on the writer thread once the group holding it has committed (with
  // fn's status), or failed to commit. `done` must be quick and must not call Write*.
  // After Shutdown, `done` gets UNAVAILABLE at once.
  void Write(WriteFn fn, WriteDone done);
  // Write, waiting for the result. Not for use on the writer thread.
  absl::Status WriteAndWait(WriteFn fn);

  // Runs `fn` on a reader connection inside a read transaction (one consistent snapshot).
  absl::Status Read(absl::FunctionRef<absl::Status(common::Database&)> fn);

  // Stops accepting writes and waits for the queued ones to finish.
  void Shutdown();

  const common::Clock& clock() const { return clock_; }
  const std::string& path() const { return path_; }
  StoreStats stats() const;

 private:
  struct Job {
    WriteFn fn;
    WriteDone done;
  };

  Store(std::string path, const common::Clock& clock, const StoreOptions& options)
      : path_(std::move(path)), clock_(clock), options_(options) {}
  void WriterLoop();
  void CommitGroup(std::vector<Job>& group);

  const std::string path_;
  const common::Clock& clock_;
  const StoreOptions options_;

  std::unique_ptr<common::Database> writer_db_;  // used only by the writer thread
  std::thread writer_;

  mutable absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  StoreStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<common::Database>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
};

// Runs `fn(tx, response)` as a write and hands the filled response to `done` once committed, or
// the error. The usual shape of a service's write method.
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
      });
}

}  // namespace camfleet::storage
