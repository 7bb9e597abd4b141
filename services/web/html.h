#pragma once
// Building the web page's HTML: escaping (every text that did not come from this file goes
// through Escape) and the battery chart, drawn here as inline SVG so that the page needs no
// script or library to show it.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace camfleet::web {

// Text for an HTML element or a quoted attribute: & < > " ' escaped.
std::string Escape(absl::string_view text);
// A component of a URL path or query, percent-encoded (unreserved characters kept).
std::string UrlEncode(absl::string_view text);
// "2026-12-06 03:15 UTC", or "-" for InfinitePast/InfiniteFuture (unset).
std::string ShowTime(absl::Time t);
// A duration for people: "4d 3h", "5h 12m", "12m", "40s"; "-" for a negative one.
std::string ShowDuration(absl::Duration d);

struct ChartPoint {
  absl::Time time;
  double value = 0;  // 0..100
};
struct ChartSeries {
  std::string name;      // legend text
  std::string css_class;  // colours it (style.css)
  std::vector<ChartPoint> points;  // any order
};
// An SVG line chart of percentages over time with axes, gridlines and a legend; `id` is the
// element's id. Shows "no readings yet" when every series is empty.
std::string PercentChart(absl::string_view id, absl::string_view title,
                         const std::vector<ChartSeries>& series);

}  // namespace camfleet::web
