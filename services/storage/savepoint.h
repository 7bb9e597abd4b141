#pragma once
// A step of a write transaction that may fail alone: run under its own SAVEPOINT (nested inside
// the savepoint the writer gives every write function), rolled back to it if the step fails.

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// Runs `step`. Returns its status as the value: OK (kept) or the step's error (everything it
// changed is undone, the transaction goes on). The outer error is SQLite's, if the savepoint
// itself could not be made, released or rolled back: then the transaction must fail.
absl::StatusOr<absl::Status> TrySavepoint(WriteTx& tx, absl::FunctionRef<absl::Status()> step);

}  // namespace camfleet::storage
