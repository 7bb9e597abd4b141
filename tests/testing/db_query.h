#pragma once
// Reading a database another process (or server) writes, the way an auditor would: a
// read-only connection of its own, so the test sees only what was committed.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace camfleet::testing {

// The first column of the first row of `sql` (a COUNT, a position) over a read-only
// connection to `db_path`; an error if the file, the statement or the row is missing.
absl::StatusOr<int64_t> QueryInt(const std::string& db_path, const std::string& sql);

}  // namespace camfleet::testing
