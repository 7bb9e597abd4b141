#include "common/migration.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace camfleet::common {

absl::StatusOr<int> SchemaVersion(Database& db) {
  ASSIGN_OR_RETURN(Statement stmt, db.Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.ColumnInt(0));
}

absl::Status ApplyMigrations(Database& db, const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration ", migrations[i].name,
                                              " is out of sequence: expected version ", i + 1));
    }
  }
  ASSIGN_OR_RETURN(int current, SchemaVersion(db));
  const int newest = static_cast<int>(migrations.size());
  if (current > newest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", db.path(), " has schema version ", current, " but this binary knows only ",
        newest, "; run a newer camfleet release"));
  }
  for (int v = current + 1; v <= newest; ++v) {
    const Migration& m = migrations[static_cast<size_t>(v - 1)];
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    absl::Status s = db.Exec(m.sql);
    if (s.ok()) s = db.Exec(absl::StrCat("PRAGMA user_version = ", v));
    if (s.ok()) s = db.Exec("COMMIT");
    if (!s.ok()) {
      db.Exec("ROLLBACK").IgnoreError();
      return Annotate(s, absl::StrCat("applying migration ", m.name));
    }
  }
  return absl::OkStatus();
}

}  // namespace camfleet::common
