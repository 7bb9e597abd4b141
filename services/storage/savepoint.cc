#include "services/storage/savepoint.h"

#include "common/status_macros.h"

namespace camfleet::storage {

namespace {

// Through the connection's statement cache: parsed once, not once per step.
absl::Status RunCached(common::Database& db, absl::string_view sql) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  return s.Run();
}

}  // namespace

absl::StatusOr<absl::Status> TrySavepoint(WriteTx& tx, absl::FunctionRef<absl::Status()> step) {
  RETURN_IF_ERROR(RunCached(tx.db(), "SAVEPOINT step"));
  absl::Status s = step();
  if (s.ok()) {
    RETURN_IF_ERROR(RunCached(tx.db(), "RELEASE step"));
  } else {
    RETURN_IF_ERROR(RunCached(tx.db(), "ROLLBACK TO step"));
    RETURN_IF_ERROR(RunCached(tx.db(), "RELEASE step"));
  }
  return s;
}

}  // namespace camfleet::storage
