#pragma once
// The SQL of `camfleetd backup` and `camfleetd restore` (services/server/backup.h has the
// procedure).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// Writes a consistent copy of the database at `source` to the new file `dest` with
// `VACUUM INTO` on a connection of its own. The copy is one read transaction: in WAL mode the
// server's writer goes on meanwhile (only checkpoints cannot recycle the WAL until it ends), so
// a backup never stops writes. The copy is compact (no free pages) and is fsynced before this
// returns. NOT_FOUND if `source` does not exist; ALREADY_EXISTS if `dest` does; SQLite and I/O
// errors naming the paths.
absl::Status CopyDatabaseSnapshot(const std::string& source, const std::string& dest);

// PRAGMA integrity_check (every page, every index against its table). DATA_LOSS listing the
// first problems.
absl::Status IntegrityCheck(common::Database& db);

// Gives the database a new generation id, as after a restore from backup, so that docks see a
// database that may lack what they sent and resend what they retain (services/dock/README.md),
// with the audit event `store.restore` naming both generations and `source`. Returns the new
// generation.
absl::StatusOr<std::string> ReplaceDatabaseGeneration(WriteTx& tx, const std::string& actor,
                                                      const std::string& source);

}  // namespace camfleet::storage
