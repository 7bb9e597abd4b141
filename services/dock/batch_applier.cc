#include "services/dock/batch_applier.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/dock/item_validation.h"
#include "services/fleet/custody.h"
#include "services/rollout/rollout_engine.h"
#include "services/storage/alert_repository.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/health_repository.h"
#include "services/storage/identity_repository.h"
#include "services/storage/savepoint.h"

namespace camfleet::dock {
namespace {

using google::protobuf::util::TimeUtil;

// Battery wear (services/dock/README.md). 80 % of design capacity is the usual end-of-life
// definition of a Li-ion cell; 500 full cycles is the cycle life most body-worn camera cells
// are rated for (e.g. Battery University BU-808: "300-500 cycles" to 80 % for typical
// cobalt/NMC cells; we take the upper figure so the capacity rule usually fires first).
constexpr int64_t kWornHealthPermille = 800;
constexpr uint32_t kWornCycleCount = 500;
// Recording time of a new cell at design capacity, for the predicted-runtime rule. A body-worn
// camera's design runtime (12 h for the units this fleet models) scales with capacity.
constexpr absl::Duration kDesignRuntime = absl::Hours(12);

// Server time of an item: its record time corrected by the dock's measured offset.
int64_t EventMicros(const v1::OutboxItem& item, absl::Time now) {
  if (!item.has_record_time()) return common::ToMicros(now);
  int64_t us = TimeUtil::TimestampToMicroseconds(item.record_time());
  if (item.has_clock_offset()) us -= TimeUtil::DurationToMicroseconds(item.clock_offset());
  return us;
}

std::string TimeText(int64_t us) {
  return TimeUtil::ToString(TimeUtil::MicrosecondsToTimestamp(us));
}

}  // namespace

absl::Status BatchApplier::Apply(const v1::OutboxBatch& batch, BatchResult& result) {
  ASSIGN_OR_RETURN(storage::SyncPositions pos,
                   storage::GetSyncPositions(tx_.db(), session_.dock_row, session_.epoch));
  const storage::SyncPositions before = pos;
  int64_t thinned = 0;
  for (const v1::OutboxItem& item : batch.items()) {
    if (item.lane() != v1::SYNC_LANE_CUSTODY && item.lane() != v1::SYNC_LANE_TELEMETRY) {
      return absl::InvalidArgumentError(
          absl::StrCat("item with sequence ", item.sequence(), " has lane ", item.lane(),
                       "; give SYNC_LANE_CUSTODY or SYNC_LANE_TELEMETRY"));
    }
    if (item.sequence() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("an item of the ", LaneName(item.lane()),
                                                     " lane has sequence 0; "
                                                     "sequences start at 1"));
    }
    uint64_t& applied = item.lane() == v1::SYNC_LANE_CUSTODY ? pos.custody : pos.telemetry;
    // A thinned range the dock made after the first of its readings were applied here: the
    // rest of the range counts as applied too (otherwise its next item looks like a gap).
    const bool range = item.has_thinned() && item.thinned().thinned_through() >= item.sequence() &&
                       item.thinned().thinned_through() - item.sequence() < (uint64_t{1} << 40);
    if (range && item.sequence() <= applied && item.thinned().thinned_through() > applied) {
      if (item.lane() == v1::SYNC_LANE_CUSTODY) {
        RETURN_IF_ERROR(
            ItemsLost(applied + 1, item.thinned().thinned_through(), EventMicros(item, tx_.now())));
      }
      applied = item.thinned().thinned_through();
      continue;
    }
    if (item.sequence() <= applied) continue;  // a replay: acknowledged, nothing changes
    if (item.sequence() > applied + 1) {
      result.gap = absl::FailedPreconditionError(
          absl::StrCat("gap in the ", LaneName(item.lane()), " lane of epoch ", session_.epoch,
                       ": expected sequence ", applied + 1, ", got ", item.sequence(),
                       "; resend from ", applied + 1));
      break;
    }
    const int64_t event_us = EventMicros(item, tx_.now());
    // In the custody lane a range covers items a restored server lacks and the dock no longer
    // held (the dock raises ITEMS_LOST for them in the same lane): nothing else can fill it.
    if (range) {
      if (item.lane() == v1::SYNC_LANE_CUSTODY) {
        RETURN_IF_ERROR(ItemsLost(item.sequence(), item.thinned().thinned_through(), event_us));
      }
      applied = item.thinned().thinned_through();
      thinned += static_cast<int64_t>(item.thinned().readings_dropped());
      continue;
    }
    absl::Status valid = ValidateItem(item, session_.slot_count, options_.max_item_bytes);
    if (!valid.ok()) {
      RETURN_IF_ERROR(Reject(item, valid, v1::ALERT_KIND_REJECTED_ITEM, "", event_us, result));
      applied = item.sequence();
      continue;
    }
    absl::Status applied_status;
    bool camera_checked = false;  // a refusal is then not about the camera
    if (item.has_health()) {
      // A reading needs no savepoint of its own (one per reading cost about a fifth of the
      // writer's time per reading, bench/README.md): its only refusals, a camera of another
      // site or unknown, come from OwnCamera before anything is written, and any later error
      // ends the batch, whose write is then rolled back whole.
      absl::StatusOr<storage::CameraRow> cam = OwnCamera(item.health().serial());
      applied_status = cam.status();
      if (cam.ok()) RETURN_IF_ERROR(ApplyHealth(item, *cam, event_us));
    } else if (item.has_firmware()) {
      // The camera first, as for every item about a camera (one answer for an unknown and a
      // foreign serial); what is left to refuse is about the rollout (unknown, or the camera
      // not in it), which is said as it is.
      absl::StatusOr<storage::CameraRow> cam = OwnCamera(item.firmware().serial());
      applied_status = cam.status();
      if (cam.ok()) {
        camera_checked = true;
        ASSIGN_OR_RETURN(applied_status,
                         storage::TrySavepoint(tx_, [&] { return ApplyItem(item, event_us); }));
      }
    } else {
      ASSIGN_OR_RETURN(applied_status,
                       storage::TrySavepoint(tx_, [&] { return ApplyItem(item, event_us); }));
    }
    if (applied_status.ok()) {
      if (item.lane() == v1::SYNC_LANE_CUSTODY) result.custody_changed = true;
    } else {
      const bool foreign = absl::IsPermissionDenied(applied_status);
      const bool unknown = absl::IsNotFound(applied_status);
      if (!foreign && !unknown) return applied_status;  // the store failed: end the batch
      std::string serial;
      if (item.has_health()) serial = item.health().serial();
      if (item.has_inserted()) serial = item.inserted().serial();
      if (item.has_removed()) serial = item.removed().serial();
      if (item.has_checkout()) serial = item.checkout().serial();
      if (item.has_dock_return()) serial = item.dock_return().serial();
      if (item.has_alert()) serial = item.alert().serial();
      if (item.has_firmware()) serial = item.firmware().serial();
      const v1::AlertKind kind = camera_checked ? v1::ALERT_KIND_REJECTED_ITEM
                                 : foreign      ? v1::ALERT_KIND_FOREIGN_CAMERA
                                                : v1::ALERT_KIND_UNKNOWN_CAMERA;
      RETURN_IF_ERROR(Reject(item, applied_status, kind, serial, event_us, result));
    }
    applied = item.sequence();
  }
  if (pos.custody != before.custody || pos.telemetry != before.telemetry) {
    // The outbox rows this batch delivered (a thinned range is one row), for the dock's
    // backlog as the server shows it between hellos.
    uint64_t delivered_items = 0;
    uint64_t delivered_bytes = 0;
    for (const v1::OutboxItem& item : batch.items()) {
      const bool custody = item.lane() == v1::SYNC_LANE_CUSTODY;
      const uint64_t lane_before = custody ? before.custody : before.telemetry;
      const uint64_t lane_after = custody ? pos.custody : pos.telemetry;
      const uint64_t last = item.has_thinned()
                                ? std::max(item.sequence(), item.thinned().thinned_through())
                                : item.sequence();
      if (last > lane_before && item.sequence() <= lane_after) {
        ++delivered_items;
        delivered_bytes += item.ByteSizeLong();
      }
    }
    RETURN_IF_ERROR(
        storage::ReduceDockBacklog(tx_, session_.dock_row, delivered_items, delivered_bytes));
    RETURN_IF_ERROR(storage::PutSyncPositions(tx_, session_.dock_row, session_.epoch, pos));
    storage::AuditDetails details = {{"epoch", session_.epoch},
                                     {"custody_applied", absl::StrCat(pos.custody)},
                                     {"telemetry_applied", absl::StrCat(pos.telemetry)},
                                     {"custody_items", absl::StrCat(custody_)},
                                     {"health_readings", absl::StrCat(readings_)}};
    if (thinned > 0) details.emplace_back("readings_thinned_at_dock", absl::StrCat(thinned));
    RETURN_IF_ERROR(Audit("dock.sync", "dock", session_.who.name, details));
  }
  result.ack.set_custody_applied(pos.custody);
  result.ack.set_telemetry_applied(pos.telemetry);
  return absl::OkStatus();
}

absl::Status BatchApplier::Reject(const v1::OutboxItem& item, const absl::Status& why,
                                  v1::AlertKind kind, const std::string& serial, int64_t event_us,
                                  BatchResult& result) {
  const std::string reason(why.message());
  RETURN_IF_ERROR(
      storage::InsertRejectedItem(tx_, {session_.dock_row, session_.epoch, item.lane(),
                                        item.sequence(), static_cast<int>(why.code()), reason}));
  const std::string message = absl::StrCat("dock ", session_.who.name, " ", LaneName(item.lane()),
                                           " item ", item.sequence(), " rejected (",
                                           absl::StatusCodeToString(why.code()), "): ", reason);
  RETURN_IF_ERROR(RaiseAlert(kind, serial, 0, event_us, message).status());
  RETURN_IF_ERROR(Audit("dock.item.reject", "dock", session_.who.name,
                        {{"epoch", session_.epoch},
                         {"lane", LaneName(item.lane())},
                         {"sequence", absl::StrCat(item.sequence())},
                         {"code", absl::StatusCodeToString(why.code())},
                         {"reason", reason}}));
  common::LogWarning(message);
  v1::RejectedItem* rejected = result.ack.add_rejected();
  rejected->set_lane(item.lane());
  rejected->set_sequence(item.sequence());
  if (kind == v1::ALERT_KIND_UNKNOWN_CAMERA || kind == v1::ALERT_KIND_FOREIGN_CAMERA) {
    // An unknown serial and another site's serial get the same answer, so a dock cannot map
    // the fleet by probing serials (issue 11, item 10); the alert and the stored rejection
    // above keep which it was for a person.
    rejected->set_reason(absl::StrCat("camera '", serial, "' is not a camera of site ",
                                      session_.site_code, " where dock ", session_.who.name,
                                      " is"));
    rejected->set_code(static_cast<int32_t>(absl::StatusCode::kPermissionDenied));
  } else {
    rejected->set_reason(reason);
    rejected->set_code(static_cast<int32_t>(why.code()));
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::CameraRow> BatchApplier::OwnCamera(const std::string& serial) {
  absl::StatusOr<storage::CameraRow> cam = storage::FindCamera(tx_.db(), serial);
  if (!cam.ok()) return cam.status();
  if (cam->site_id != session_.site_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("camera '", serial, "' belongs to site ", cam->camera.site_code(), ", not to ",
                     session_.site_code, " where dock ", session_.who.name, " is"));
  }
  return cam;
}

absl::StatusOr<int64_t> BatchApplier::RaiseAlert(v1::AlertKind kind, const std::string& serial,
                                                 uint32_t slot, int64_t event_us,
                                                 const std::string& message,
                                                 v1::DockAlertKind dock_kind) {
  storage::AlertRecord record;
  record.kind = kind;
  record.dock_alert_kind = dock_kind;
  record.site_id = session_.site_id;
  record.dock_id = session_.dock_row;
  record.slot = static_cast<int>(slot);
  record.serial = serial;
  record.event_us = event_us;
  record.message = message;
  ASSIGN_OR_RETURN(int64_t id, storage::InsertAlert(tx_, record));
  RETURN_IF_ERROR(Audit("alert.raise", "alert", absl::StrCat(id),
                        {{"kind", storage::AlertKindName(kind, dock_kind)},
                         {"serial", serial},
                         {"slot", absl::StrCat(slot)},
                         {"message", message}}));
  return id;
}

absl::Status BatchApplier::ItemsLost(uint64_t first, uint64_t last, int64_t event_us) {
  const std::string message = absl::StrCat(
      "dock ", session_.who.name, " custody items ", first, "-", last, " of epoch ", session_.epoch,
      " (", last - first + 1,
      " check-outs, returns, insertions, removals or alerts) are lost: the control plane lacks "
      "them (restored from a backup?) and the dock no longer held them; find out at the post "
      "what happened then");
  common::LogWarning(message);
  return RaiseAlert(v1::ALERT_KIND_ITEMS_LOST, "", 0, event_us, message).status();
}

absl::Status BatchApplier::RaiseConflict(const std::string& kind, const std::string& serial,
                                         uint32_t slot, int64_t event_us, const std::string& fact,
                                         const absl::Status& decision) {
  const std::string decision_text(decision.message());
  ASSIGN_OR_RETURN(int64_t alert_id,
                   RaiseAlert(v1::ALERT_KIND_CONFLICT, serial, slot, event_us,
                              absl::StrCat("dock ", session_.who.name, " slot ", slot, " at ",
                                           TimeText(event_us), ": ", kind, " of camera '", serial,
                                           "' conflicts with the control plane: ", decision_text)));
  storage::ConflictRecord record{kind, session_.site_id, session_.dock_row, serial,
                                 fact, decision_text,    event_us,          alert_id};
  ASSIGN_OR_RETURN(int64_t id, storage::InsertConflict(tx_, record));
  return Audit("conflict.raise", "camera", serial,
               {{"conflict", absl::StrCat(id)},
                {"kind", kind},
                {"physical_fact", fact},
                {"central_decision", decision_text}});
}

absl::Status BatchApplier::ApplyItem(const v1::OutboxItem& item, int64_t event_us) {
  switch (item.kind_case()) {
    case v1::OutboxItem::kHealth: {
      ASSIGN_OR_RETURN(storage::CameraRow cam, OwnCamera(item.health().serial()));
      return ApplyHealth(item, cam, event_us);
    }
    case v1::OutboxItem::kInserted:
      return ApplyInserted(item.inserted(), event_us);
    case v1::OutboxItem::kRemoved:
      return ApplyRemoved(item.removed(), event_us);
    case v1::OutboxItem::kCheckout:
      return ApplyCheckout(item.checkout(), event_us);
    case v1::OutboxItem::kDockReturn:
      return ApplyReturn(item.dock_return(), event_us);
    case v1::OutboxItem::kFirmware:
      // Exactly once like every custody item: the unit's change, its audit event and the lane
      // position commit together. Rejections (unknown rollout or camera, another site's
      // camera) come back as NOT_FOUND / PERMISSION_DENIED before anything is written.
      ++custody_;
      return rollout::ApplyProgress(tx_, session_.who.actor(), session_.site_id, item.firmware());
    case v1::OutboxItem::kAlert: {
      const v1::DockAlert& a = item.alert();
      if (!a.serial().empty()) {
        absl::StatusOr<storage::CameraRow> cam = OwnCamera(a.serial());
        // A dock alert about an unknown camera is exactly what the dock wants seen.
        if (!cam.ok() && !absl::IsNotFound(cam.status())) return cam.status();
      }
      ++custody_;
      return RaiseAlert(v1::ALERT_KIND_DOCK, a.serial(), a.slot(), event_us,
                        absl::StrCat("dock ", session_.who.name, ": ", a.message()), a.kind())
          .status();
    }
    default:
      return absl::InternalError("item kind was validated");
  }
}

absl::Status BatchApplier::ApplyHealth(const v1::OutboxItem& item, const storage::CameraRow& cam,
                                       int64_t event_us) {
  const v1::HealthReading& h = item.health();
  ++readings_;
  const int64_t device_us = TimeUtil::TimestampToMicroseconds(h.device_time());
  ASSIGN_OR_RETURN(std::optional<int64_t> id,
                   storage::InsertHealthReading(tx_, cam.id, session_.dock_row, h, device_us));
  RETURN_IF_ERROR(
      storage::MarkCameraSeen(tx_, cam.id, session_.dock_row, static_cast<int>(h.slot()), event_us)
          .status());
  if (!id.has_value()) return absl::OkStatus();  // this camera sequence was stored before
  ASSIGN_OR_RETURN(bool newest, storage::UpdateHealthSnapshot(tx_, cam.id, *id, h, device_us));
  ASSIGN_OR_RETURN(storage::SiteRules rules, storage::GetSiteRules(tx_.db(), session_.site_id));
  const std::string worn = WornBatteryReason(h, rules.shift + rules.reserve);
  if (!worn.empty()) {
    ASSIGN_OR_RETURN(bool first, storage::MarkWornAlerted(tx_, cam.id));
    if (first) {
      RETURN_IF_ERROR(
          RaiseAlert(v1::ALERT_KIND_WORN_BATTERY, h.serial(), h.slot(), event_us,
                     absl::StrCat("camera '", h.serial(), "' has a worn battery: ", worn, " (dock ",
                                  session_.who.name, " slot ", h.slot(), ")"))
              .status());
    }
  }
  // Skew is judged only when the dock had measured its own offset, on the newest reading.
  if (newest && item.has_clock_offset() && item.has_record_time()) {
    const int64_t skew = device_us - event_us;
    const bool off = std::abs(skew) > absl::ToInt64Microseconds(options_.clock_skew_bound);
    ASSIGN_OR_RETURN(
        std::optional<int64_t> before,
        storage::SetClockSkew(tx_, cam.id, off ? std::optional<int64_t>(skew) : std::nullopt));
    if (off && !before.has_value()) {
      RETURN_IF_ERROR(RaiseAlert(v1::ALERT_KIND_CLOCK_SKEW, h.serial(), h.slot(), event_us,
                                 absl::StrCat("camera '", h.serial(), "' clock is off by ",
                                              absl::FormatDuration(absl::Microseconds(skew)),
                                              " from server time (bound ",
                                              absl::FormatDuration(options_.clock_skew_bound), ")"))
                          .status());
    }
  }
  return absl::OkStatus();
}

absl::Status BatchApplier::ApplyInserted(const v1::CameraInserted& ins, int64_t event_us) {
  ASSIGN_OR_RETURN(storage::CameraRow cam, OwnCamera(ins.serial()));
  ++custody_;
  RETURN_IF_ERROR(
      storage::SetDockSlot(tx_, session_.dock_row, static_cast<int>(ins.slot()), ins.serial()));
  RETURN_IF_ERROR(storage::MarkCameraSeen(tx_, cam.id, session_.dock_row,
                                          static_cast<int>(ins.slot()), event_us)
                      .status());
  RETURN_IF_ERROR(Audit("camera.dock", "camera", ins.serial(),
                        {{"dock", session_.who.name},
                         {"slot", absl::StrCat(ins.slot())},
                         {"time", TimeText(event_us)},
                         {"certificate", ins.certificate_serial()}}));
  const v1::CameraState state = cam.camera.state();
  if (state == v1::CAMERA_STATE_LOST || state == v1::CAMERA_STATE_RETIRED) {
    // Not put back in stock: a quartermaster confirms it found (ReportCameraFound).
    const bool lost = state == v1::CAMERA_STATE_LOST;
    return RaiseAlert(
               lost ? v1::ALERT_KIND_LOST_CAMERA_DOCKED : v1::ALERT_KIND_RETIRED_CAMERA_DOCKED,
               ins.serial(), ins.slot(), event_us,
               absl::StrCat(lost ? "LOST" : "RETIRED", " camera '", ins.serial(),
                            "' was put into dock ", session_.who.name, " slot ", ins.slot(), " at ",
                            TimeText(event_us), "; its state stays ", lost ? "LOST" : "RETIRED"))
        .status();
  }
  if (state != v1::CAMERA_STATE_ISSUED) return absl::OkStatus();
  ASSIGN_OR_RETURN(storage::SiteRules rules, storage::GetSiteRules(tx_.db(), session_.site_id));
  if (!rules.return_on_dock) return absl::OkStatus();
  const fleet::ReturnStep step{ins.serial(),
                               v1::RETURN_CONDITION_GOOD,
                               absl::StrCat("docked in ", session_.who.name, " slot ", ins.slot()),
                               {{"via", "return_on_dock"}, {"event_time", TimeText(event_us)}}};
  return ReturnAtDock(step, "return_on_dock_refused", ins.slot(), event_us,
                      storage::JsonObject({{"dock", session_.who.name},
                                           {"slot", absl::StrCat(ins.slot())},
                                           {"inserted", TimeText(event_us)}}));
}

absl::Status BatchApplier::ApplyRemoved(const v1::CameraRemoved& rem, int64_t event_us) {
  ASSIGN_OR_RETURN(storage::CameraRow cam, OwnCamera(rem.serial()));
  ++custody_;
  ASSIGN_OR_RETURN(storage::DockStatus status, storage::GetDockStatus(tx_.db(), session_.dock_row));
  for (const v1::SlotOccupant& o : status.slots) {
    if (o.slot() == rem.slot() && o.serial() == rem.serial()) {
      RETURN_IF_ERROR(
          storage::SetDockSlot(tx_, session_.dock_row, static_cast<int>(rem.slot()), ""));
    }
  }
  RETURN_IF_ERROR(storage::MarkCameraSeen(tx_, cam.id, session_.dock_row,
                                          static_cast<int>(rem.slot()), event_us)
                      .status());
  return Audit("camera.undock", "camera", rem.serial(),
               {{"dock", session_.who.name},
                {"slot", absl::StrCat(rem.slot())},
                {"time", TimeText(event_us)}});
}

absl::Status BatchApplier::ApplyCheckout(const v1::DockCheckout& out, int64_t event_us) {
  ASSIGN_OR_RETURN(storage::CameraRow cam, OwnCamera(out.serial()));
  ++custody_;
  // The same item under a new dock epoch: the check-out it describes is in place already.
  if (cam.camera.state() == v1::CAMERA_STATE_ISSUED && cam.camera.holder_badge() == out.badge()) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(storage::SiteRules rules, storage::GetSiteRules(tx_.db(), session_.site_id));
  const int64_t due_us = out.has_due_back_time()
                             ? TimeUtil::TimestampToMicroseconds(out.due_back_time())
                             : event_us + absl::ToInt64Microseconds(rules.checkout_duration);
  fleet::IssueStep step;
  step.serial = out.serial();
  step.holder_badge = out.badge();
  step.due_us = due_us;
  step.note = absl::StrCat("checked out at dock ", session_.who.name, " slot ", out.slot());
  step.extra_details = {{"on_behalf_of", out.badge()},
                        {"dock", session_.who.name},
                        {"slot", absl::StrCat(out.slot())},
                        {"battery_percent", absl::StrCat(out.battery_percent())},
                        {"event_time", TimeText(event_us)}};
  ASSIGN_OR_RETURN(absl::Status refused, storage::TrySavepoint(tx_, [&]() -> absl::Status {
                     return fleet::IssueInTransaction(tx_, session_.who, step).status();
                   }));
  if (refused.ok()) {
    RETURN_IF_ERROR(storage::SetDockSlot(tx_, session_.dock_row, static_cast<int>(out.slot()), ""));
    return absl::OkStatus();
  }
  if (!absl::IsFailedPrecondition(refused) && !absl::IsNotFound(refused) &&
      !absl::IsAborted(refused)) {
    return refused;
  }
  return RaiseConflict(
      "dock_checkout_refused", out.serial(), out.slot(), event_us,
      storage::JsonObject({{"dock", session_.who.name},
                           {"slot", absl::StrCat(out.slot())},
                           {"badge", out.badge()},
                           {"checked_out", TimeText(event_us)},
                           {"due_back", TimeText(due_us)},
                           {"battery_percent", absl::StrCat(out.battery_percent())}}),
      refused);
}

absl::Status BatchApplier::ApplyReturn(const v1::DockReturn& ret, int64_t event_us) {
  ASSIGN_OR_RETURN(storage::CameraRow cam, OwnCamera(ret.serial()));
  ++custody_;
  RETURN_IF_ERROR(
      storage::SetDockSlot(tx_, session_.dock_row, static_cast<int>(ret.slot()), ret.serial()));
  RETURN_IF_ERROR(storage::MarkCameraSeen(tx_, cam.id, session_.dock_row,
                                          static_cast<int>(ret.slot()), event_us)
                      .status());
  // Returned already (return_on_dock closed it when the camera was inserted): nothing to do.
  if (cam.camera.state() == v1::CAMERA_STATE_AVAILABLE && ret.badge().empty()) {
    return absl::OkStatus();
  }
  if (cam.camera.state() == v1::CAMERA_STATE_AVAILABLE) {
    ASSIGN_OR_RETURN(std::vector<v1::Assignment> all,
                     storage::ListCameraAssignments(tx_.db(), cam.id));
    if (!all.empty() && all.back().holder_badge() == ret.badge() && all.back().has_return_time()) {
      return absl::OkStatus();
    }
  }
  const fleet::ReturnStep step{
      ret.serial(),
      v1::RETURN_CONDITION_GOOD,
      absl::StrCat("returned at dock ", session_.who.name, " slot ", ret.slot()),
      {{"on_behalf_of", ret.badge()}, {"event_time", TimeText(event_us)}}};
  return ReturnAtDock(step, "dock_return_refused", ret.slot(), event_us,
                      storage::JsonObject({{"dock", session_.who.name},
                                           {"slot", absl::StrCat(ret.slot())},
                                           {"badge", ret.badge()},
                                           {"returned", TimeText(event_us)}}));
}

absl::Status BatchApplier::ReturnAtDock(const fleet::ReturnStep& step,
                                        const std::string& conflict_kind, uint32_t slot,
                                        int64_t event_us, const std::string& fact) {
  ASSIGN_OR_RETURN(absl::Status refused, storage::TrySavepoint(tx_, [&]() -> absl::Status {
                     return fleet::ReturnInTransaction(tx_, session_.who, step, revoked_).status();
                   }));
  if (refused.ok()) return absl::OkStatus();
  if (!absl::IsFailedPrecondition(refused) && !absl::IsNotFound(refused) &&
      !absl::IsAborted(refused)) {
    return refused;
  }
  return RaiseConflict(conflict_kind, step.serial, slot, event_us, fact, refused);
}

std::string WornBatteryReason(const v1::HealthReading& reading, absl::Duration shift_and_reserve) {
  const std::optional<int64_t> pm = storage::BatteryHealthPermille(reading);
  if (pm.has_value() && *pm < kWornHealthPermille) {
    return absl::StrCat("state of health ", *pm / 10, ".", *pm % 10,
                        "% of design capacity is below 80%");
  }
  if (reading.cycle_count() > kWornCycleCount) {
    return absl::StrCat(reading.cycle_count(), " charge cycles is past the rated ",
                        kWornCycleCount);
  }
  if (pm.has_value()) {
    const absl::Duration runtime = kDesignRuntime * static_cast<double>(*pm) / 1000.0;
    if (runtime < shift_and_reserve) {
      return absl::StrCat("predicted runtime ",
                          absl::FormatDuration(absl::Trunc(runtime, absl::Minutes(1))),
                          " is below shift + reserve ", absl::FormatDuration(shift_and_reserve));
    }
  }
  return "";
}

}  // namespace camfleet::dock
