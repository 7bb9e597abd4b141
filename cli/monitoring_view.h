#pragma once
// What the docks report, as people read it: alert kinds by name, a health reading's battery
// state of health, and the trend of that health over 30 and 90 days. Pure, unit-tested; the
// commands in monitoring_commands.cc and `camera get` use it.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/monitoring.pb.h"

namespace camfleet::cli {

// "dock, rejected-item, foreign-camera, lost-camera-docked, retired-camera-docked,
// worn-battery, clock-skew, conflict, unknown-camera": for help texts and errors.
std::string AlertKindChoices();
// Parses an alert kind, ignoring case, '-' and '_', with or without the "ALERT_KIND_" prefix.
// Errors: INVALID_ARGUMENT naming the kinds.
absl::StatusOr<v1::AlertKind> ParseAlertKind(absl::string_view text);
// "lost-camera-docked"; for ALERT_KIND_DOCK the dock's own kind too: "dock: outbox-full".
std::string AlertKindLabel(const v1::Alert& alert);

// Full-charge capacity as a percentage of design capacity; nullopt when the camera did not
// report its design capacity.
std::optional<double> StateOfHealth(const v1::HealthReading& reading);
// "84.3%", or "" when unknown.
std::string FormatStateOfHealth(std::optional<double> soh);

// A battery's state of health at one reading.
struct HealthPoint {
  absl::Time device_time;
  double soh = 0;
  uint32_t cycle_count = 0;
};

// The state of health now and at the readings nearest before 30 and 90 days ago, built from a
// camera's readings newest first (ListHealthReadings order), page by page.
class BatteryTrend {
 public:
  explicit BatteryTrend(absl::Time now) : now_(now) {}
  // Takes the next reading, older than (or as old as) every one before. Readings without a
  // design capacity are skipped.
  void Add(const v1::HealthReading& reading);
  // True once a reading at or before 90 days ago has been seen: older pages change nothing.
  bool Complete() const { return day90_.has_value(); }

  const std::optional<HealthPoint>& latest() const { return latest_; }
  const std::optional<HealthPoint>& day30() const { return day30_; }
  const std::optional<HealthPoint>& day90() const { return day90_; }
  // The oldest reading seen (to say how far back the history goes).
  const std::optional<HealthPoint>& oldest() const { return oldest_; }

  // For people: "84.3% (2866/3400 mAh), 412 cycles"; "30 days ago: 86.0% (-1.7 points)";
  // "90 days ago: no reading that old (history starts 2026-10-01 08:00Z at 88.0%)".
  // Each an (label, value) pair for RenderRecord.
  std::vector<std::pair<std::string, std::string>> Fields() const;

 private:
  absl::Time now_;
  std::optional<HealthPoint> latest_;
  std::optional<HealthPoint> day30_;
  std::optional<HealthPoint> day90_;
  std::optional<HealthPoint> oldest_;
};

}  // namespace camfleet::cli
