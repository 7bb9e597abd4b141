#pragma once
// Numbered, forward-only schema migrations. The version applied lives in PRAGMA user_version.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/sqlite.h"

namespace camfleet::common {

struct Migration {
  int version;       // 1, 2, 3, ... without gaps
  const char* name;  // file name without .sql, e.g. "0001_initial"
  const char* sql;
};

// Applies every migration newer than the database's user_version, each in its own
// transaction together with the user_version bump.
// Errors: FAILED_PRECONDITION if the database is newer than the newest migration (a binary
// older than the data must not touch it); INTERNAL if the list has gaps; SQLite errors with
// the migration's name.
absl::Status ApplyMigrations(Database& db, const std::vector<Migration>& migrations);

// The database's current user_version.
absl::StatusOr<int> SchemaVersion(Database& db);

}  // namespace camfleet::common
