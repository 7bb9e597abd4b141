#pragma once
// The figures a benchmark reports, printed as a table for people and as JSON for scripts.

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace camfleet::bench {

// A goal is a bound on a figure's value (latency) or on its ratio to its ceiling (throughput).
struct Goal {
  enum class On { kValue, kRatio };
  enum class Bound { kAtLeast, kAtMost };
  On on = On::kValue;
  Bound bound = Bound::kAtMost;
  double limit = 0;
};

struct Figure {
  std::string name;
  double value = 0;
  std::string unit;  // "calls/s", "ms", ...
  int precision = 0;
  // What the figure is compared with, measured in the same run, and value / ceiling.
  std::optional<double> ceiling;
  std::string ceiling_name;
  std::optional<Goal> goal;

  std::optional<double> ratio() const;
  // Unset when there is no goal (or no ceiling for a ratio goal).
  std::optional<bool> met() const;
  std::string GoalText() const;
};

// A fixed-width text table; the first row is the header.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// The summary: figure, value, ceiling, ratio, goal, met.
void PrintFigures(std::ostream& out, const std::vector<Figure>& figures);

nlohmann::json FiguresJson(const std::vector<Figure>& figures);

}  // namespace camfleet::bench
