#pragma once
// Parsing and checking of a delivery manifest: CSV with the header
// `serial,model,hardware_revision,site`. Quoting follows RFC 4180 ('"' around a field, '""' for
// a quote inside one). Every problem is reported with its line number; parsing goes on after a
// bad row so that one pass shows them all.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
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
  // The first kMaxListedManifestErrors problems, in line order; the rest are only counted.
  std::vector<v1::ManifestRowError> errors;
  int64_t unlisted_errors = 0;
  absl::flat_hash_set<int64_t> bad_lines;  // every line with at least one problem
};

inline constexpr size_t kMaxManifestBytes = 8 << 20;
// A file of 8 MiB can hold ~200,000 bad rows; nobody reads past the first thousand problems,
// and listing them all would make an answer bigger than the file.
inline constexpr size_t kMaxListedManifestErrors = 1000;

// Parses and checks every row on its own (field formats, column count, quoting, a serial
// repeated within the file). Lines end with LF, CR LF or a bare CR; a leading UTF-8 byte order
// mark is skipped. Errors: INVALID_ARGUMENT if the text is empty (a byte order mark alone is
// empty), too big, or its first line is not the expected header.
absl::StatusOr<ParsedManifest> ParseManifest(absl::string_view csv);

}  // namespace camfleet::fleet
