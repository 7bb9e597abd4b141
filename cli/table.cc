#include "cli/table.h"

#include <algorithm>

namespace camfleet::cli {
namespace {

std::string CellText(absl::string_view text) {
  std::string cell = SanitizeCell(text);
  // Trailing spaces would be invisible; an all-blank cell reads as empty.
  if (cell.find_first_not_of(' ') == std::string::npos) return kEmptyCell;
  return cell;
}

void AppendPadded(std::string& line, const std::string& cell, size_t width, bool right) {
  size_t pad = width - std::min(width, DisplayWidth(cell));
  if (right) line.append(pad, ' ');
  line += cell;
  if (!right) line.append(pad, ' ');
}

void TrimRight(std::string& line) {
  size_t end = line.find_last_not_of(' ');
  line.erase(end == std::string::npos ? 0 : end + 1);
}

}  // namespace

std::string SanitizeCell(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

size_t DisplayWidth(absl::string_view text) {
  // Count the bytes that start a code point, i.e. all but UTF-8 continuation bytes.
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

Table& Table::AlignRight(size_t column) {
  if (right_.size() <= column) right_.resize(column + 1, false);
  right_[column] = true;
  return *this;
}

void Table::AddRow(std::vector<std::string> row) {
  if (row.size() < header_.size()) row.resize(header_.size());
  for (std::string& cell : row) cell = CellText(cell);
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  size_t columns = header_.size();
  for (const auto& row : rows_) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  std::vector<std::string> header(columns);
  for (size_t i = 0; i < header_.size(); ++i) header[i] = SanitizeCell(header_[i]);
  for (size_t i = 0; i < columns; ++i) widths[i] = DisplayWidth(header[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }

  std::string out;
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      if (i > 0) line += "  ";
      // A row longer than the header leaves the header's extra cells blank.
      AppendPadded(line, i < cells.size() ? cells[i] : std::string(), widths[i],
                   i < right_.size() && right_[i]);
    }
    TrimRight(line);
    out += line;
    out += '\n';
  };
  render_line(header);
  for (const auto& row : rows_) render_line(row);
  return out;
}

std::string RenderRecord(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [label, value] : fields) width = std::max(width, DisplayWidth(label));
  std::string out;
  for (const auto& [label, value] : fields) {
    std::string line;
    AppendPadded(line, SanitizeCell(label), width, false);
    line += "  ";
    line += CellText(value);
    TrimRight(line);
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace camfleet::cli
