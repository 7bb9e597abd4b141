#include "services/storage/savepoint.h"

#include "common/status_macros.h"

namespace camfleet::storage {

absl::StatusOr<absl::Status> TrySavepoint(WriteTx& tx, absl::FunctionRef<absl::Status()> step) {
  RETURN_IF_ERROR(tx.db().Exec("SAVEPOINT step"));
  absl::Status s = step();
  if (s.ok()) {
    RETURN_IF_ERROR(tx.db().Exec("RELEASE step"));
  } else {
    RETURN_IF_ERROR(tx.db().Exec("ROLLBACK TO step; RELEASE step"));
  }
  return s;
}

}  // namespace camfleet::storage
