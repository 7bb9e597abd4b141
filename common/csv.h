#pragma once
// CSV (RFC 4180) as camfleet writes it for people's spreadsheets: `camfleet report --csv` and
// the web page's report downloads write every field through CsvField, so both give the same
// file.

#include <string>

#include "absl/strings/string_view.h"

namespace camfleet::common {

// One CSV field: quoted (with quotes doubled) when it holds a comma, a quote or a line break.
// A `text` cell that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or
// a carriage return) gets a leading apostrophe: notes and names come from other operators.
// Numbers and times (`text` false) are written as they are, so -5 stays a number.
std::string CsvField(absl::string_view cell, bool text);

}  // namespace camfleet::common
