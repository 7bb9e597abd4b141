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
  AuditChainHead* const head = tx.audit_head();
  const AuditChainHead head_before = head != nullptr ? *head : AuditChainHead{};
  RETURN_IF_ERROR(RunCached(tx.db(), "SAVEPOINT step"));
  absl::Status s = step();
  if (s.ok()) {
    RETURN_IF_ERROR(RunCached(tx.db(), "RELEASE step"));
  } else {
    // The rollback takes back any audit event the step appended: so does the cached head.
    if (head != nullptr) head->known = false;
    RETURN_IF_ERROR(RunCached(tx.db(), "ROLLBACK TO step"));
    if (head != nullptr) *head = head_before;
    RETURN_IF_ERROR(RunCached(tx.db(), "RELEASE step"));
  }
  return s;
}

}  // namespace camfleet::storage
