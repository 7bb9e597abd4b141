#include "tests/testing/db_query.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/sqlite.h"
#include "common/status_macros.h"

namespace camfleet::testing {

absl::StatusOr<int64_t> QueryInt(const std::string& db_path, const std::string& sql) {
  common::OpenOptions ro;
  ro.read_only = true;
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(db_path, ro));
  ASSIGN_OR_RETURN(common::Statement st, db->Prepare(sql));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no row from: ", sql));
  return st.ColumnInt(0);
}

}  // namespace camfleet::testing
