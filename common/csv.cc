#include "common/csv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace camfleet::common {

std::string CsvField(absl::string_view cell, bool text) {
  std::string out(cell);
  if (text && !out.empty() &&
      absl::string_view("=+-@\t\r").find(out.front()) != absl::string_view::npos) {
    out.insert(0, "'");
  }
  if (out.find_first_of(",\"\r\n") == std::string::npos) return out;
  return absl::StrCat("\"", absl::StrReplaceAll(out, {{"\"", "\"\""}}), "\"");
}

}  // namespace camfleet::common
