#pragma once
// Parsing and checking of a delivery manifest: CSV with the header
// `serial,model,hardware_revision,site`. Quoting follows RFC 4180 ('"' around a field, '""' for
// a quote inside one). Every problem is reported with its line number; parsing goes on after a
// bad row so that one pass shows them all.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "camfleet/v1/fleet.pb.h"

namespace camfleet::fleet {

struct ManifestRow {
  int64_t line = 0;
  std::string serial;
  std::string model;
  std::string hardware_revision;
  std::string site;
};

struct ParsedManifest {
  std::vector<ManifestRow> rows;  // good rows only
  int64_t row_count = 0;          // data rows read, good and bad
  std::vector<v1::ManifestRowError> errors;
};

inline constexpr size_t kMaxManifestBytes = 8 << 20;

// Parses and checks every row on its own (field formats, column count, quoting, a serial
// repeated within the file). Errors: INVALID_ARGUMENT if the text is empty, too big, or its
// first line is not the expected header.
absl::StatusOr<ParsedManifest> ParseManifest(absl::string_view csv);

}  // namespace camfleet::fleet
