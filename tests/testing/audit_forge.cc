#include "tests/testing/audit_forge.h"

#include <memory>

#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "services/storage/audit_hash.h"

namespace camfleet::testing {

absl::Status AppendLinkedAuditEvent(const std::string& db_path, const storage::AuditRecord& record,
                                    std::optional<int64_t> time_us) {
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(db_path));
  ASSIGN_OR_RETURN(common::Statement head,
                   db->Prepare("SELECT seq, hash, time_us FROM audit_events "
                               "ORDER BY seq DESC LIMIT 1"));
  ASSIGN_OR_RETURN(bool row, head.Step());
  if (!row) return absl::InternalError("the audit chain is empty: no head to link to");
  const int64_t seq = head.ColumnInt(0) + 1;
  const std::string prev = head.ColumnBlob(1);
  const int64_t when = time_us.value_or(head.ColumnInt(2) + 1);
  const std::string hash = storage::ChainHash(prev, storage::CanonicalEncoding(seq, when, record));
  ASSIGN_OR_RETURN(
      common::Statement insert,
      db->Prepare("INSERT INTO audit_events (seq, time_us, actor, action, object_type, "
                  "object_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, seq)
      .Bind(2, when)
      .Bind(3, record.actor)
      .Bind(4, record.action)
      .Bind(5, record.object_type)
      .Bind(6, record.object_id)
      .Bind(7, record.details_json)
      .BindBlob(8, prev)
      .BindBlob(9, hash);
  return insert.Run();
}

}  // namespace camfleet::testing
