#pragma once
// `camfleetd backup` and `camfleetd restore`.
//
// Backup (the server keeps running): a consistent copy of the live store (storage::
// CopyDatabaseSnapshot, VACUUM INTO in one read transaction: writes go on meanwhile), then on the
// copy PRAGMA integrity_check, the whole audit chain recomputed, a checkpoint of the copy's head
// signed with the server's checkpoint key and checked against the copy; only then is the copy
// renamed to DEST and the checkpoint written beside it as DEST.checkpoint.json. A failed check
// leaves nothing at DEST.
//
// Restore (the server stopped; restore refuses while a camfleetd holds the database's lock):
// the copy at SRC is checked the same way against SRC.checkpoint.json (signature with the
// checkpoint key in the audit directory, chain intact and holding the checkpoint's event), copied
// in, given a new database generation (with the audit event `store.restore`) so that docks
// resend what the restored store lacks, and put in place of the database; the database it
// replaces is moved aside to DB.before-restore-TIME (with its -wal and -shm), never deleted.
// The checkpoint key itself is not in a backup: keep HOME/audit/checkpoint.key backed up
// separately (it changes never), or restore cannot check the copy's checkpoint.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.pb.h"

namespace camfleet::server {

// An exclusive lock (flock) on DB.lock: held by a serving camfleetd for its whole run and by
// restore, so that a restore cannot pull the database from under a running server.
class DatabaseLock {
 public:
  // FAILED_PRECONDITION if another process (or Server) holds it; I/O errors naming the path.
  static absl::StatusOr<std::unique_ptr<DatabaseLock>> Acquire(const std::string& db_path);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  explicit DatabaseLock(int fd) : fd_(fd) {}
  int fd_;
};

struct BackupOptions {
  std::string db_path;    // the live store
  std::string audit_dir;  // holds checkpoint.key (HOME/audit)
  std::string dest;       // a new file
};

struct BackupResult {
  std::string checkpoint_path;  // DEST.checkpoint.json
  v1::AuditCheckpoint checkpoint;
  int64_t events_checked = 0;
  int64_t bytes = 0;
  absl::Duration copy_time;  // how long the copy's read transaction lasted
};

// ALREADY_EXISTS if DEST exists; NOT_FOUND for a missing database; FAILED_PRECONDITION if the
// audit directory has no checkpoint key; DATA_LOSS if the copy fails integrity_check or its
// audit chain is broken (the live database is then suspect too: run `camfleet audit verify`).
absl::StatusOr<BackupResult> Backup(const BackupOptions& options);

struct RestoreOptions {
  std::string source;     // a file `camfleetd backup` wrote, with SOURCE.checkpoint.json
  std::string db_path;    // the store to replace (need not exist)
  std::string audit_dir;  // holds checkpoint.key
};

struct RestoreResult {
  std::string previous_generation;  // of the backup
  std::string generation;           // the restored database's new one
  std::string moved_aside;          // where the replaced database went; empty if none
  int64_t events_checked = 0;
};

// FAILED_PRECONDITION if a server holds the database's lock or the audit directory has no
// checkpoint key; NOT_FOUND for a missing source or checkpoint file; DATA_LOSS if the copy
// fails integrity_check, its chain is broken or does not match its checkpoint.
absl::StatusOr<RestoreResult> Restore(const RestoreOptions& options);

}  // namespace camfleet::server
