#include "common/csv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace camfleet::common {

std::string CsvField(absl::string_view cell, bool text) {
  // A text cell a spreadsheet would read as a formula gets a leading quote. Built in one go
  // (an insert at the front made GCC 12 at -O2 warn a false -Wrestrict).
  const bool formula = text && !cell.empty() &&
                       absl::string_view("=+-@\t\r").find(cell.front()) != absl::string_view::npos;
  std::string out = formula ? absl::StrCat("'", cell) : std::string(cell);
  if (out.find_first_of(",\"\r\n") == std::string::npos) return out;
  return absl::StrCat("\"", absl::StrReplaceAll(out, {{"\"", "\"\""}}), "\"");
}

}  // namespace camfleet::common
