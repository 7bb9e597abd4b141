#include "services/web/html.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace camfleet::web {

std::string Escape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      absl::StrAppendFormat(&out, "%%%02X", u);
    }
  }
  return out;
}

std::string ShowTime(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture() || t == absl::UnixEpoch()) {
    return "-";
  }
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

std::string ShowDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-";
  const int64_t s = absl::ToInt64Seconds(d);
  const int64_t days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60;
  if (days > 0) return absl::StrCat(days, "d ", hours, "h");
  if (hours > 0) return absl::StrCat(hours, "h ", minutes, "m");
  if (minutes > 0) return absl::StrCat(minutes, "m");
  return absl::StrCat(s, "s");
}

std::string PercentChart(absl::string_view id, absl::string_view title,
                         const std::vector<ChartSeries>& series) {
  constexpr double kWidth = 640, kHeight = 240, kLeft = 44, kRight = 12, kTop = 28,
                   kBottom = 32;
  constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
  absl::Time first = absl::InfiniteFuture(), last = absl::InfinitePast();
  for (const ChartSeries& s : series) {
    for (const ChartPoint& p : s.points) {
      first = std::min(first, p.time);
      last = std::max(last, p.time);
    }
  }
  std::string svg = absl::StrFormat(
      "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">"
      "<title>%s</title>",
      Escape(id), static_cast<int>(kWidth), static_cast<int>(kHeight), Escape(title),
      Escape(title));
  for (int pct = 0; pct <= 100; pct += 25) {
    const double y = kTop + kPlotH * (1.0 - pct / 100.0);
    absl::StrAppendFormat(&svg,
                          "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                          "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%"
                          "</text>",
                          kLeft, y, kLeft + kPlotW, y, kLeft - 6, y + 4, pct);
  }
  if (first > last) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
                          "no readings yet</text></svg>",
                          kLeft + kPlotW / 2, kTop + kPlotH / 2);
    return svg;
  }
  const double span = std::max(absl::ToDoubleSeconds(last - first), 1.0);
  auto x_of = [&](absl::Time t) {
    return first == last ? kLeft + kPlotW / 2
                         : kLeft + kPlotW * absl::ToDoubleSeconds(t - first) / span;
  };
  absl::StrAppendFormat(&svg,
                        "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">%s</text>"
                        "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                        kLeft, kHeight - 10, Escape(ShowTime(first)), kLeft + kPlotW,
                        kHeight - 10, Escape(ShowTime(last)));
  double legend_x = kLeft;
  for (const ChartSeries& s : series) {
    std::vector<ChartPoint> points = s.points;
    std::sort(points.begin(), points.end(),
              [](const ChartPoint& a, const ChartPoint& b) { return a.time < b.time; });
    std::string coords;
    for (const ChartPoint& p : points) {
      const double v = std::clamp(p.value, 0.0, 100.0);
      absl::StrAppendFormat(&coords, "%s%.1f,%.1f", coords.empty() ? "" : " ", x_of(p.time),
                            kTop + kPlotH * (1.0 - v / 100.0));
    }
    if (points.size() == 1) {
      absl::StrAppendFormat(&svg, "<circle class=\"dot %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>",
                            Escape(s.css_class), x_of(points[0].time),
                            kTop + kPlotH * (1.0 - std::clamp(points[0].value, 0.0, 100.0) / 100.0));
    }
    absl::StrAppendFormat(&svg, "<polyline class=\"series %s\" points=\"%s\"/>",
                          Escape(s.css_class), coords);
    absl::StrAppendFormat(&svg,
                          "<rect class=\"%s\" x=\"%.1f\" y=\"8\" width=\"10\" height=\"10\"/>"
                          "<text class=\"legend\" x=\"%.1f\" y=\"17\">%s</text>",
                          Escape(s.css_class), legend_x, legend_x + 14, Escape(s.name));
    legend_x += 30 + 7.0 * static_cast<double>(s.name.size());
  }
  svg += "</svg>";
  return svg;
}

}  // namespace camfleet::web
