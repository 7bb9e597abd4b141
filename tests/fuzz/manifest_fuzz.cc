// libFuzzer harness for the delivery-manifest parser (services/fleet/manifest.h): any bytes a
// quartermaster can upload must give an answer, never a crash, and the answer must be
// self-consistent. Runs in CI for a bounded time under ASan and UBSan (ctest: fuzz_manifest).

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/utf8.h"
#include "services/fleet/manifest.h"
#include "tests/fuzz/fuzz_checks.h"

using camfleet::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view csv(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<camfleet::fleet::ParsedManifest> parsed = camfleet::fleet::ParseManifest(csv);
  if (!parsed.ok()) {
    Require(parsed.status().code() == absl::StatusCode::kInvalidArgument,
            "a refusal is INVALID_ARGUMENT");
    Require(!parsed.status().message().empty(), "a refusal says why");
    return 0;
  }
  const camfleet::fleet::ParsedManifest& m = *parsed;
  Require(m.errors.size() <= camfleet::fleet::kMaxListedManifestErrors, "the error list is capped");
  Require(m.unlisted_errors == 0 || m.errors.size() == camfleet::fleet::kMaxListedManifestErrors,
          "errors are counted only once the list is full");
  Require(static_cast<int64_t>(m.rows.size() + m.bad_lines.size()) <= m.row_count,
          "good and bad rows are rows read");
  int64_t previous_line = 1;
  for (const camfleet::fleet::ManifestRow& row : m.rows) {
    Require(row.line > previous_line, "good rows come in line order after the header");
    Require(!m.bad_lines.contains(row.line), "a good row has no problem");
    Require(!row.serial.empty() && !row.model.empty() && !row.site.empty(),
            "a good row has its required fields");
    previous_line = row.line;
  }
  // The server gets the CSV in a protobuf string field, so always as UTF-8; its answer's row
  // errors travel in string fields too, which the client cannot parse with one bad byte.
  const bool utf8_in = !camfleet::common::FirstInvalidUtf8(csv).has_value();
  for (const camfleet::v1::ManifestRowError& e : m.errors) {
    Require(e.line() >= 2, "problems are on data lines");
    Require(m.bad_lines.contains(e.line()), "every listed problem is on a bad line");
    Require(!utf8_in || !camfleet::common::FirstInvalidUtf8(e.message()).has_value(),
            "a UTF-8 manifest's row errors are UTF-8");
    Require(!utf8_in || !camfleet::common::FirstInvalidUtf8(e.column()).has_value(),
            "a UTF-8 manifest's row error columns are UTF-8");
  }
  return 0;
}
