#include "cli/monitoring_view.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "cli/time_format.h"

namespace camfleet::cli {
namespace {

constexpr absl::string_view kAlertPrefix = "ALERT_KIND_";
constexpr absl::string_view kDockAlertPrefix = "DOCK_ALERT_KIND_";

// "LOST_CAMERA_DOCKED" -> "lost-camera-docked".
std::string Dashed(absl::string_view upper) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(upper), {{"_", "-"}});
}

std::string KindName(v1::AlertKind kind) {
  std::string name = v1::AlertKind_Name(kind);
  if (name.empty()) return absl::StrCat("unknown(", static_cast<int>(kind), ")");
  return Dashed(absl::StripPrefix(name, kAlertPrefix));
}

}  // namespace

std::string AlertKindChoices() {
  std::string out;
  for (int k = v1::AlertKind_MIN; k <= v1::AlertKind_MAX; ++k) {
    if (k == v1::ALERT_KIND_UNSPECIFIED || !v1::AlertKind_IsValid(k)) continue;
    if (!out.empty()) out += ", ";
    out += KindName(static_cast<v1::AlertKind>(k));
  }
  return out;
}

absl::StatusOr<v1::AlertKind> ParseAlertKind(absl::string_view text) {
  std::string wanted = absl::StrReplaceAll(absl::AsciiStrToUpper(text), {{"-", "_"}});
  absl::string_view name = wanted;
  absl::ConsumePrefix(&name, kAlertPrefix);
  v1::AlertKind kind;
  if (!name.empty() && v1::AlertKind_Parse(absl::StrCat(kAlertPrefix, name), &kind) &&
      kind != v1::ALERT_KIND_UNSPECIFIED) {
    return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown alert kind '", text, "'; use one of: ", AlertKindChoices()));
}

std::string AlertKindLabel(const v1::Alert& alert) {
  std::string label = KindName(alert.kind());
  if (alert.kind() == v1::ALERT_KIND_DOCK &&
      alert.dock_alert_kind() != v1::DOCK_ALERT_KIND_UNSPECIFIED) {
    std::string dock_kind = v1::DockAlertKind_Name(alert.dock_alert_kind());
    absl::StrAppend(&label, ": ",
                    dock_kind.empty() ? absl::StrCat(static_cast<int>(alert.dock_alert_kind()))
                                      : Dashed(absl::StripPrefix(dock_kind, kDockAlertPrefix)));
  }
  return label;
}

std::optional<double> StateOfHealth(const v1::HealthReading& reading) {
  if (reading.design_capacity_mah() == 0) return std::nullopt;
  return 100.0 * reading.full_charge_capacity_mah() / reading.design_capacity_mah();
}

std::string FormatStateOfHealth(std::optional<double> soh) {
  if (!soh.has_value()) return "";
  // Rounded down to a tenth: 79.96% must not read as the healthy 80.0%.
  return absl::StrFormat("%.1f%%", std::floor(*soh * 10) / 10);
}

void BatteryTrend::Add(const v1::HealthReading& reading) {
  std::optional<double> soh = StateOfHealth(reading);
  if (!soh.has_value()) return;
  HealthPoint point{.device_time = FromTimestamp(reading.device_time()),
                    .soh = *soh,
                    .cycle_count = reading.cycle_count()};
  if (!latest_.has_value()) latest_ = point;
  oldest_ = point;
  if (!day30_.has_value() && point.device_time <= now_ - absl::Hours(24 * 30)) day30_ = point;
  if (!day90_.has_value() && point.device_time <= now_ - absl::Hours(24 * 90)) day90_ = point;
}

std::vector<std::pair<std::string, std::string>> BatteryTrend::Fields() const {
  std::vector<std::pair<std::string, std::string>> fields;
  if (!latest_.has_value()) return fields;
  auto line = [&](const std::optional<HealthPoint>& then) -> std::string {
    if (!then.has_value()) {
      return absl::StrCat("no reading that old (history starts ", FormatUtc(oldest_->device_time),
                          " at ", FormatStateOfHealth(oldest_->soh), ")");
    }
    const double change = std::floor(latest_->soh * 10) / 10 - std::floor(then->soh * 10) / 10;
    return absl::StrCat(FormatStateOfHealth(then->soh), " at ", FormatUtc(then->device_time), ", ",
                        then->cycle_count, " cycles (",
                        change == 0 ? "no change" : absl::StrFormat("%+.1f points", change), ")");
  };
  fields.emplace_back("health 30d ago", line(day30_));
  fields.emplace_back("health 90d ago", line(day90_));
  return fields;
}

}  // namespace camfleet::cli
