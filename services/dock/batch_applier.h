#pragma once
// Applying one OutboxBatch from a dock inside the store's write transaction (DockSyncManager::
// ApplyBatch): each new item under its own savepoint, replays skipped, a gap stopping the
// batch, rejected items answered with an alert, the (dock, epoch, lane) positions stored with
// the items they cover. Internal to services/dock.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "services/dock/dock_sync_manager.h"
#include "services/fleet/custody.h"
#include "services/rpc/revocation_set.h"
#include "services/storage/alert_repository.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/store.h"

namespace camfleet::dock {

// One batch being applied inside the writer's transaction.
class BatchApplier {
 public:
  BatchApplier(storage::WriteTx& tx, const DockSession& session, const DockSyncOptions& options,
               rpc::RevocationSet& revoked)
      : tx_(tx), session_(session), options_(options), revoked_(revoked) {}

  absl::Status Apply(const v1::OutboxBatch& batch, BatchResult& result);

 private:
  // The outcome of one item that the item itself decides: applied, or rejected with a code.
  absl::Status ApplyItem(const v1::OutboxItem& item, int64_t event_us);
  absl::Status Reject(const v1::OutboxItem& item, const absl::Status& why, v1::AlertKind kind,
                      const std::string& serial, int64_t event_us, BatchResult& result);
  // The camera the item is about, checked against the dock's site. NOT_FOUND for an unknown
  // serial; PERMISSION_DENIED for another site's camera. Both are rejections.
  absl::StatusOr<storage::CameraRow> OwnCamera(const std::string& serial);
  absl::StatusOr<int64_t> RaiseAlert(v1::AlertKind kind, const std::string& serial, uint32_t slot,
                                     int64_t event_us, const std::string& message,
                                     v1::DockAlertKind dock_kind = v1::DOCK_ALERT_KIND_UNSPECIFIED);
  // A custody-lane ThinnedRange: items this server lacks that the dock no longer held.
  absl::Status ItemsLost(uint64_t first, uint64_t last, int64_t event_us);
  // The return `step` made at the dock (a camera docked with return-on-dock, or a badge return)
  // under its own savepoint. A refusal (FAILED_PRECONDITION, NOT_FOUND, ABORTED: the camera's
  // state, an unknown camera, a race) is undone and recorded as a conflict of `conflict_kind`
  // with the physical `fact` (RaiseConflict: conflict row, CONFLICT alert, audit event); any
  // other error is returned.
  absl::Status ReturnAtDock(const fleet::ReturnStep& step, const std::string& conflict_kind,
                            uint32_t slot, int64_t event_us, const std::string& fact);
  absl::Status RaiseConflict(const std::string& kind, const std::string& serial, uint32_t slot,
                             int64_t event_us, const std::string& fact,
                             const absl::Status& decision);
  // `cam` is OwnCamera's answer for the reading's serial.
  absl::Status ApplyHealth(const v1::OutboxItem& item, const storage::CameraRow& cam,
                           int64_t event_us);
  absl::Status ApplyInserted(const v1::CameraInserted& ins, int64_t event_us);
  absl::Status ApplyRemoved(const v1::CameraRemoved& rem, int64_t event_us);
  absl::Status ApplyCheckout(const v1::DockCheckout& out, int64_t event_us);
  absl::Status ApplyReturn(const v1::DockReturn& ret, int64_t event_us);
  absl::Status Audit(std::string action, std::string object_type, std::string object_id,
                     const storage::AuditDetails& details) {
    return storage::Audit(tx_, session_.who.actor(), std::move(action), std::move(object_type),
                          std::move(object_id), details);
  }

  storage::WriteTx& tx_;
  const DockSession& session_;
  const DockSyncOptions& options_;
  rpc::RevocationSet& revoked_;
  int readings_ = 0;
  int custody_ = 0;
};

// The worn-battery rule (services/dock/README.md): the reason the battery counts as worn, or
// empty if it does not.
std::string WornBatteryReason(const v1::HealthReading& reading, absl::Duration shift_and_reserve);

}  // namespace camfleet::dock
