#pragma once
// Small pieces every repository uses to turn statements into results.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::storage {

// Stored microseconds as an API timestamp.
inline google::protobuf::Timestamp MicrosToTimestamp(int64_t us) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(us);
}

// Steps `s` to the end, turning each row into a T with `row_fn(const Statement&)`.
template <typename T, typename RowFn>
absl::StatusOr<std::vector<T>> CollectRows(common::Statement& s, RowFn row_fn) {
  std::vector<T> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(row_fn(s));
  }
}

// Runs an INSERT; a UNIQUE violation becomes ALREADY_EXISTS with `already_exists`, which names
// the key for the caller.
inline absl::Status RunInsert(common::Statement& s, std::string already_exists) {
  absl::Status st = s.Run();
  if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(std::move(already_exists));
  return st;
}

}  // namespace camfleet::storage
