#pragma once
// SQL for the dock sync stream's bookkeeping: the exactly-once positions per (dock, epoch,
// lane), what a dock reports about itself, which camera sits in which slot, rejected items, the
// database generation and the per-site check-out rules. Functions take the connection they run
// on, like the other repositories; services/dock decides what is legal.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// ---- positions ----
struct SyncPositions {
  uint64_t custody = 0;
  uint64_t telemetry = 0;
};
// The highest sequences applied for (dock, epoch); 0 for a lane never seen.
absl::StatusOr<SyncPositions> GetSyncPositions(common::Database& db, int64_t dock_id,
                                               const std::string& epoch);
// Stores the positions of both lanes (inserting the rows on first use). Never lowers one:
// INTERNAL if asked to, which would be a broken invariant of the caller.
absl::Status PutSyncPositions(WriteTx& tx, int64_t dock_id, const std::string& epoch,
                              const SyncPositions& positions);

// ---- dock status ----
struct DockReport {
  std::string epoch;
  std::string agent_version;
  uint64_t backlog_items = 0;
  uint64_t backlog_bytes = 0;
  int64_t crl_number = 0;
};
// Records the hello's report and the dock's last contact (the transaction's time).
absl::Status PutDockReport(WriteTx& tx, int64_t dock_id, const DockReport& report);
// Items the dock has delivered since its last report (hello): its reported backlog shrinks by
// them (never below zero) and its last contact moves to now, so `dock list` does not show the
// backlog of a stream's start after the backlog has drained.
absl::Status ReduceDockBacklog(WriteTx& tx, int64_t dock_id, uint64_t items, uint64_t bytes);
// Replaces the dock's slot occupants with `slots` (the hello's view of the slots).
absl::Status ReplaceDockSlots(WriteTx& tx, int64_t dock_id,
                              const std::vector<v1::SlotOccupant>& slots);
// Puts `serial` into `slot` of the dock, or empties the slot when serial is empty.
absl::Status SetDockSlot(WriteTx& tx, int64_t dock_id, int slot, const std::string& serial);
struct DockStatus {
  std::optional<DockReport> report;
  std::optional<int64_t> reported_us;
  std::vector<v1::SlotOccupant> slots;  // by slot
};
absl::StatusOr<DockStatus> GetDockStatus(common::Database& db, int64_t dock_id);

// The cameras of `site_id` (that site only), by serial, with state, the badge of the open
// assignment and whether the camera's current certificate is revoked.
absl::StatusOr<std::vector<v1::SiteCamera>> ListSiteCameras(common::Database& db, int64_t site_id);

// The outbox backlog each dock not revoked reported at its last hello (lowered by what it has
// delivered since), by dock id; docks that never reported have no row. For /metrics.
struct DockBacklog {
  std::string dock_id;
  int64_t items = 0;
  int64_t bytes = 0;
};
absl::StatusOr<std::vector<DockBacklog>> ListDockBacklogs(common::Database& db);

// ---- rejected items ----
struct RejectedRecord {
  int64_t dock_id = 0;
  std::string epoch;
  v1::SyncLane lane = v1::SYNC_LANE_UNSPECIFIED;
  uint64_t sequence = 0;
  int code = 0;  // google.rpc.Code
  std::string reason;
};
// Errors: ALREADY_EXISTS if the item was rejected before (it cannot be: a replay is skipped).
absl::Status InsertRejectedItem(WriteTx& tx, const RejectedRecord& record);
// How many items of (dock, epoch) were rejected.
absl::StatusOr<int64_t> CountRejectedItems(common::Database& db, int64_t dock_id,
                                           const std::string& epoch);

// ---- database generation ----
// The random id of this database, made the first time it is asked for and kept in settings.
// A control plane restored from a backup must be given a new one (see services/dock/README.md).
absl::StatusOr<std::string> EnsureDatabaseGeneration(Store& store);
absl::StatusOr<std::string> GetDatabaseGeneration(common::Database& db);

// ---- site rules ----
struct SiteRules {
  int minimum_battery_percent = 60;
  absl::Duration checkout_duration = absl::Hours(12);
  bool return_on_dock = true;
  absl::Duration shift = absl::Hours(8);
  absl::Duration reserve = absl::Hours(1);
};
// The site's rules, or the defaults above for a site that has none.
absl::StatusOr<SiteRules> GetSiteRules(common::Database& db, int64_t site_id);
absl::Status PutSiteRules(WriteTx& tx, int64_t site_id, const SiteRules& rules,
                          const std::string& updated_by);
// The site's rules with who set them last; `defaults` when the site has none of its own.
struct SiteRulesRecord {
  SiteRules rules;
  bool defaults = true;
  int64_t updated_us = 0;
  std::string updated_by;
};
absl::StatusOr<SiteRulesRecord> GetSiteRulesRecord(common::Database& db, int64_t site_id);

// ---- health retention (services/monitoring/health_retention.h) ----
// Thins stored health readings whose device time is before `cutoff_us`: per camera and hour of
// device time the first and the last reading stay, and so does the reading a camera's latest
// snapshot points at; the rest go, at most `limit` per call. Returns how many were deleted.
absl::StatusOr<int64_t> ThinHealthReadings(WriteTx& tx, int64_t cutoff_us, int limit);

// ---- central changes (services/dock pushes fresh site views to idle docks) ----
// The highest audit sequence so far (0 for none). Every central change writes an audit event
// in its own transaction, so this moves whenever anything a dock might need to know changed.
absl::StatusOr<int64_t> LatestAuditSeq(common::Database& db);
// Whether an audit event with seq in (after, through] has an action other than those in
// `ignored` (e.g. "dock.sync", the per-batch telemetry record). Walks the primary key only.
absl::StatusOr<bool> AuditActionsBetween(common::Database& db, int64_t after, int64_t through,
                                         const std::vector<std::string>& ignored);

}  // namespace camfleet::storage
