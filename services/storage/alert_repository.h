#pragma once
// SQL for alerts and conflicts raised from the dock sync stream.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/monitoring.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

struct AlertRecord {
  v1::AlertKind kind = v1::ALERT_KIND_UNSPECIFIED;
  v1::DockAlertKind dock_alert_kind = v1::DOCK_ALERT_KIND_UNSPECIFIED;  // for ALERT_KIND_DOCK
  int64_t site_id = 0;
  std::optional<int64_t> dock_id;
  int slot = 0;  // 0: none
  std::string serial;
  int64_t event_us = 0;
  std::string message;
};
// Returns the new alert's id; raise time is the transaction's.
absl::StatusOr<int64_t> InsertAlert(WriteTx& tx, const AlertRecord& record);
// NOT_FOUND naming the id.
absl::StatusOr<v1::Alert> GetAlert(common::Database& db, int64_t id);
// FAILED_PRECONDITION if it is acknowledged already (naming by whom); NOT_FOUND.
absl::Status AcknowledgeAlert(WriteTx& tx, int64_t id, const std::string& by);

struct AlertFilter {
  std::optional<int64_t> site_id;  // this site or under it
  v1::AlertKind kind = v1::ALERT_KIND_UNSPECIFIED;
  v1::AlertAcknowledgedFilter acknowledged = v1::ALERT_ACKNOWLEDGED_FILTER_UNSPECIFIED;
  int64_t before_id = 0;  // 0: from the newest
  int limit = 100;
};
// Newest first.
absl::StatusOr<std::vector<v1::Alert>> ListAlerts(common::Database& db, const AlertFilter& filter);

struct ConflictRecord {
  std::string kind;
  int64_t site_id = 0;
  std::optional<int64_t> dock_id;
  std::string serial;
  std::string physical_fact;     // JSON
  std::string central_decision;  // for people
  int64_t event_us = 0;
  int64_t alert_id = 0;
};
absl::StatusOr<int64_t> InsertConflict(WriteTx& tx, const ConflictRecord& record);
absl::StatusOr<v1::Conflict> GetConflict(common::Database& db, int64_t id);
// FAILED_PRECONDITION if resolved already; NOT_FOUND.
absl::Status ResolveConflict(WriteTx& tx, int64_t id, const std::string& by,
                             const std::string& resolution);
struct ConflictFilter {
  std::optional<int64_t> site_id;
  bool open_only = false;
  int64_t before_id = 0;
  int limit = 100;
};
absl::StatusOr<std::vector<v1::Conflict>> ListConflicts(common::Database& db,
                                                        const ConflictFilter& filter);

// Alerts not yet acknowledged, by stored kind name (AlertKindName); kinds with none are absent.
// Uses the partial index of open alerts. For /metrics.
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> CountOpenAlertsByKind(
    common::Database& db);

// Stored names: "WORN_BATTERY" for ALERT_KIND_WORN_BATTERY; "DOCK:LOST_CAMERA" for a dock alert.
std::string AlertKindName(v1::AlertKind kind, v1::DockAlertKind dock_kind);

}  // namespace camfleet::storage
