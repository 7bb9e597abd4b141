#pragma once
// Plain-text tables and records for people reading a terminal. Scripts use --json instead, so
// the layout here may change between versions.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace camfleet::cli {

// Text shown for an empty cell, so that columns never look shifted.
inline constexpr char kEmptyCell[] = "-";

// Makes text safe for one terminal cell: control characters (newlines, tabs, ESC) become
// spaces. Notes and names come from other operators, and an escape sequence in a note must not
// be able to rewrite the screen of whoever lists it.
std::string SanitizeCell(absl::string_view text);

// Display width of UTF-8 text: one column per code point. Good enough for the Latin, Cyrillic
// and Greek names a fleet holds; wide CJK glyphs would count as one.
size_t DisplayWidth(absl::string_view text);

// A table with a header row and left-aligned columns separated by two spaces. Cells are
// sanitised, empty cells show as "-", and no line has trailing spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Right-aligns a column (counts, sequence numbers, line numbers).
  Table& AlignRight(size_t column);
  // Adds a row. A row shorter than the header is padded with empty cells; extra cells are kept
  // and widen the table.
  void AddRow(std::vector<std::string> row);

  size_t row_count() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // Every line ends with '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

// A record: one "label  value" line per field, labels padded to the same width. Empty values
// show as "-". Every line ends with '\n'.
std::string RenderRecord(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace camfleet::cli
