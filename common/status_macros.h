#pragma once
// Early-return helpers for absl::Status, and context added on the way up without losing the code.

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace camfleet::common {

// Returns `status` with "context: " put before its message; the code is kept. OK stays OK.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace camfleet::common

#define CAMFLEET_CONCAT_INNER(a, b) a##b
#define CAMFLEET_CONCAT(a, b) CAMFLEET_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    if (absl::Status _status = (expr); !_status.ok()) return _status; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  CAMFLEET_ASSIGN_OR_RETURN_IMPL(CAMFLEET_CONCAT(_status_or_, __LINE__), lhs, expr)

#define CAMFLEET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
