#include "bench/report.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace camfleet::bench {
namespace {

std::string Number(double v, int precision) { return absl::StrFormat("%.*f", precision, v); }

}  // namespace

std::optional<double> Figure::ratio() const {
  if (!ceiling.has_value() || *ceiling == 0) return std::nullopt;
  return value / *ceiling;
}

std::optional<bool> Figure::met() const {
  if (!goal.has_value()) return std::nullopt;
  std::optional<double> subject =
      goal->on == Goal::On::kValue ? std::optional<double>(value) : ratio();
  if (!subject.has_value()) return std::nullopt;
  return goal->bound == Goal::Bound::kAtLeast ? *subject >= goal->limit : *subject <= goal->limit;
}

std::string Figure::GoalText() const {
  if (!goal.has_value()) return "";
  const char* op = goal->bound == Goal::Bound::kAtLeast ? ">=" : "<=";
  if (goal->on == Goal::On::kRatio) return absl::StrFormat("ratio %s %.2f", op, goal->limit);
  return absl::StrFormat("%s %s %s", op, Number(goal->limit, precision), unit);
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      // The first column (names) is left-aligned, numbers right-aligned.
      line += i == 0 ? absl::StrFormat("%-*s", static_cast<int>(width[i]), rows[r][i])
                     : absl::StrFormat("  %*s", static_cast<int>(width[i]), rows[r][i]);
    }
    out << line << "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out << std::string(total - 2, '-') << "\n";
    }
  }
}

void PrintFigures(std::ostream& out, const std::vector<Figure>& figures) {
  std::vector<std::vector<std::string>> rows = {
      {"figure", "value", "ceiling", "ratio", "goal", "met"}};
  for (const Figure& f : figures) {
    std::string ceiling =
        f.ceiling.has_value()
            ? absl::StrFormat("%s %s (%s)", Number(*f.ceiling, f.precision), f.unit, f.ceiling_name)
            : "-";
    std::optional<double> ratio = f.ratio();
    std::optional<bool> met = f.met();
    rows.push_back({f.name, absl::StrFormat("%s %s", Number(f.value, f.precision), f.unit), ceiling,
                    ratio.has_value() ? absl::StrFormat("%.2f", *ratio) : "-",
                    f.goal.has_value() ? f.GoalText() : "-",
                    met.has_value() ? (*met ? "met" : "NOT MET") : "-"});
  }
  PrintTable(out, rows);
}

nlohmann::json FiguresJson(const std::vector<Figure>& figures) {
  nlohmann::json out = nlohmann::json::array();
  for (const Figure& f : figures) {
    nlohmann::json j = {{"figure", f.name}, {"value", f.value}, {"unit", f.unit}};
    j["ceiling"] = f.ceiling.has_value() ? nlohmann::json(*f.ceiling) : nlohmann::json();
    j["ceiling_name"] = f.ceiling_name;
    std::optional<double> ratio = f.ratio();
    j["ratio"] = ratio.has_value() ? nlohmann::json(*ratio) : nlohmann::json();
    j["goal"] = f.GoalText();
    std::optional<bool> met = f.met();
    j["met"] = met.has_value() ? nlohmann::json(*met) : nlohmann::json();
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace camfleet::bench
