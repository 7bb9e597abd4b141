#pragma once
// Checks on request fields. Every failure is INVALID_ARGUMENT naming the field, what is wrong
// and what is accepted, so the caller can fix the request without reading the source.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"

namespace camfleet::rpc {

// Camera serial: 4-32 characters of A-Z, 0-9 and '-', not starting or ending with '-'.
absl::Status ValidateSerial(absl::string_view field, absl::string_view serial);
// Site code: 1-32 characters of A-Z, 0-9, '-' and '_'.
absl::Status ValidateSiteCode(absl::string_view field, absl::string_view code);
// Badge number: 1-32 characters of A-Z, 0-9 and '-'.
absl::Status ValidateBadge(absl::string_view field, absl::string_view badge);
// Operator name: 1-64 characters of a-z, 0-9, '.', '_' and '-' (provisioning.proto).
absl::Status ValidateOperatorName(absl::string_view field, absl::string_view name);
// Dock id: 3-64 characters of a-z, 0-9 and '-' (provisioning.proto).
absl::Status ValidateDockId(absl::string_view field, absl::string_view id);
// Free text of `min`..`max` characters, valid UTF-8, without control characters other than
// newline and tab.
absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t min, size_t max);

// Page size: 0 means the default (100); above 1000 is lowered to 1000; negative is refused.
absl::StatusOr<int> ResolvePageSize(int32_t page_size);

// Microseconds of a Timestamp field that must be set and within protobuf's valid range.
absl::StatusOr<int64_t> TimestampMicros(absl::string_view field, bool has,
                                        const google::protobuf::Timestamp& ts);

}  // namespace camfleet::rpc
