#include "services/dock/dock_sync_manager.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/fleet/custody.h"
#include "services/rollout/rollout_engine.h"
#include "services/rpc/validation.h"
#include "services/storage/alert_repository.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/health_repository.h"
#include "services/storage/identity_repository.h"
#include "services/storage/savepoint.h"

namespace camfleet::dock {
namespace {

using google::protobuf::util::TimeUtil;
using storage::WriteTx;

// Battery wear (services/dock/README.md). 80 % of design capacity is the usual end-of-life
// definition of a Li-ion cell; 500 full cycles is the cycle life most body-worn camera cells
// are rated for (e.g. Battery University BU-808: "300-500 cycles" to 80 % for typical
// cobalt/NMC cells; we take the upper figure so the capacity rule usually fires first).
constexpr int64_t kWornHealthPermille = 800;
constexpr uint32_t kWornCycleCount = 500;
// Recording time of a new cell at design capacity, for the predicted-runtime rule. A body-worn
// camera's design runtime (12 h for the units this fleet models) scales with capacity.
constexpr absl::Duration kDesignRuntime = absl::Hours(12);

constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxCounters = 64;
constexpr size_t kMaxAlertMessage = 1024;
// Camera and dock clocks are trusted only within this window of server time (10 years):
// anything further is a corrupt timestamp, not skew.
constexpr int64_t kMaxClockDistanceUs = int64_t{10} * 366 * 24 * 3600 * 1000000;

// The ranges google/protobuf/timestamp.proto and duration.proto define as valid.
bool TimestampInRange(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() <= 999999999;
}
bool DurationInRange(const google::protobuf::Duration& d) {
  return d.seconds() >= -315576000000 && d.seconds() <= 315576000000 && d.nanos() >= -999999999 &&
         d.nanos() <= 999999999 && !(d.seconds() > 0 && d.nanos() < 0) &&
         !(d.seconds() < 0 && d.nanos() > 0);
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

absl::Status ValidateSlot(absl::string_view field, uint32_t slot, int slot_count) {
  const uint32_t max = slot_count > 0 ? static_cast<uint32_t>(slot_count) : 256;
  if (slot < 1 || slot > max) {
    return Invalid(field, absl::StrCat("is ", slot, "; the dock has slots 1-", max));
  }
  return absl::OkStatus();
}

absl::Status ValidatePercent(absl::string_view field, uint32_t value) {
  if (value > 100) return Invalid(field, absl::StrCat("is ", value, "; give 0-100"));
  return absl::OkStatus();
}

absl::Status ValidateTime(absl::string_view field, const google::protobuf::Timestamp& t) {
  if (!TimestampInRange(t) || t.seconds() < 946684800 /* 2000-01-01 */) {
    return Invalid(field,
                   absl::StrCat("is not a valid time after 2000-01-01 (", t.seconds(), "s)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVersion(absl::string_view field, const std::string& version) {
  if (version.size() > kMaxVersion) {
    return Invalid(field,
                   absl::StrCat("is ", version.size(), " characters; at most ", kMaxVersion));
  }
  for (char c : version) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      return Invalid(field, "has a character that is not printable ASCII");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHealth(const v1::HealthReading& h, int slot_count) {
  RETURN_IF_ERROR(rpc::ValidateSerial("health.serial", h.serial()));
  RETURN_IF_ERROR(ValidateSlot("health.slot", h.slot(), slot_count));
  if (!h.has_device_time()) return Invalid("health.device_time", "is required");
  RETURN_IF_ERROR(ValidateTime("health.device_time", h.device_time()));
  RETURN_IF_ERROR(ValidatePercent("health.battery_percent", h.battery_percent()));
  if (h.design_capacity_mah() == 0 && h.full_charge_capacity_mah() != 0) {
    return Invalid("health.design_capacity_mah", "is 0 while full_charge_capacity_mah is set");
  }
  if (h.design_capacity_mah() > 0 &&
      h.full_charge_capacity_mah() > 2 * uint64_t{h.design_capacity_mah()}) {
    return Invalid("health.full_charge_capacity_mah",
                   absl::StrCat("is ", h.full_charge_capacity_mah(),
                                ", over twice the design "
                                "capacity ",
                                h.design_capacity_mah()));
  }
  if (h.temperature_decicelsius() < -400 || h.temperature_decicelsius() > 1500) {
    return Invalid("health.temperature_decicelsius",
                   absl::StrCat("is ", h.temperature_decicelsius(), "; give -400 to 1500"));
  }
  if (h.voltage_mv() > 60000) {
    return Invalid("health.voltage_mv", absl::StrCat("is ", h.voltage_mv(), "; at most 60000"));
  }
  if (h.storage_used_bytes() > h.storage_total_bytes()) {
    return Invalid("health.storage_used_bytes",
                   absl::StrCat("is ", h.storage_used_bytes(), ", more than storage_total_bytes ",
                                h.storage_total_bytes()));
  }
  RETURN_IF_ERROR(ValidateVersion("health.firmware_version", h.firmware_version()));
  RETURN_IF_ERROR(ValidateVersion("health.slot_a_version", h.slot_a_version()));
  RETURN_IF_ERROR(ValidateVersion("health.slot_b_version", h.slot_b_version()));
  if (h.error_counters_size() > static_cast<int>(kMaxCounters)) {
    return Invalid("health.error_counters", absl::StrCat("has ", h.error_counters_size(),
                                                         " entries; at most ", kMaxCounters));
  }
  for (const auto& [name, value] : h.error_counters()) {
    (void)value;
    if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
          return absl::ascii_islower(static_cast<unsigned char>(c)) ||
                 absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_';
        })) {
      return Invalid("health.error_counters", "has a name that is not 1-64 of [a-z0-9_]");
    }
  }
  if (h.has_uptime() && (!DurationInRange(h.uptime()) || h.uptime().seconds() < 0)) {
    return Invalid("health.uptime", "is negative or not a valid duration");
  }
  return absl::OkStatus();
}

// Server time of an item: its record time corrected by the dock's measured offset.
int64_t EventMicros(const v1::OutboxItem& item, absl::Time now) {
  if (!item.has_record_time()) return common::ToMicros(now);
  int64_t us = TimeUtil::TimestampToMicroseconds(item.record_time());
  if (item.has_clock_offset()) us -= TimeUtil::DurationToMicroseconds(item.clock_offset());
  return us;
}

std::string LaneName(v1::SyncLane lane) {
  return lane == v1::SYNC_LANE_CUSTODY ? "custody" : "telemetry";
}

std::string TimeText(int64_t us) {
  return TimeUtil::ToString(TimeUtil::MicrosecondsToTimestamp(us));
}

// One batch being applied inside the writer's transaction.
class BatchApplier {
 public:
  BatchApplier(WriteTx& tx, const DockSession& session, const DockSyncOptions& options,
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

  WriteTx& tx_;
  const DockSession& session_;
  const DockSyncOptions& options_;
  rpc::RevocationSet& revoked_;
  int readings_ = 0;
  int custody_ = 0;
};

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
  ASSIGN_OR_RETURN(absl::Status refused, storage::TrySavepoint(tx_, [&]() -> absl::Status {
                     return fleet::ReturnInTransaction(tx_, session_.who, step, revoked_).status();
                   }));
  if (refused.ok()) return absl::OkStatus();
  if (!absl::IsFailedPrecondition(refused) && !absl::IsNotFound(refused) &&
      !absl::IsAborted(refused)) {
    return refused;
  }
  return RaiseConflict("return_on_dock_refused", ins.serial(), ins.slot(), event_us,
                       storage::JsonObject({{"dock", session_.who.name},
                                            {"slot", absl::StrCat(ins.slot())},
                                            {"inserted", TimeText(event_us)}}),
                       refused);
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
  ASSIGN_OR_RETURN(absl::Status refused, storage::TrySavepoint(tx_, [&]() -> absl::Status {
                     return fleet::ReturnInTransaction(tx_, session_.who, step, revoked_).status();
                   }));
  if (refused.ok()) return absl::OkStatus();
  if (!absl::IsFailedPrecondition(refused) && !absl::IsNotFound(refused) &&
      !absl::IsAborted(refused)) {
    return refused;
  }
  return RaiseConflict("dock_return_refused", ret.serial(), ret.slot(), event_us,
                       storage::JsonObject({{"dock", session_.who.name},
                                            {"slot", absl::StrCat(ret.slot())},
                                            {"badge", ret.badge()},
                                            {"returned", TimeText(event_us)}}),
                       refused);
}

}  // namespace

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

absl::Status ValidateItem(const v1::OutboxItem& item, int slot_count, size_t max_item_bytes) {
  const size_t size = item.ByteSizeLong();
  if (size > max_item_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("item is ", size, " bytes; at most ", max_item_bytes));
  }
  if (item.has_record_time()) RETURN_IF_ERROR(ValidateTime("record_time", item.record_time()));
  if (item.has_clock_offset()) {
    if (!DurationInRange(item.clock_offset()) ||
        std::abs(TimeUtil::DurationToMicroseconds(item.clock_offset())) > kMaxClockDistanceUs) {
      return Invalid("clock_offset", "is more than 10 years or not a valid duration");
    }
  }
  const bool telemetry = item.lane() == v1::SYNC_LANE_TELEMETRY;
  // Thinned ranges may travel in either lane (see BatchApplier::Apply).
  const bool wants_telemetry = item.kind_case() == v1::OutboxItem::kHealth;
  if (item.kind_case() != v1::OutboxItem::KIND_NOT_SET &&
      item.kind_case() != v1::OutboxItem::kThinned && telemetry != wants_telemetry) {
    return absl::InvalidArgumentError(absl::StrCat(
        "item travels in the ", LaneName(item.lane()), " lane but its kind belongs to the ",
        wants_telemetry ? "telemetry" : "custody", " lane"));
  }
  switch (item.kind_case()) {
    case v1::OutboxItem::kHealth:
      return ValidateHealth(item.health(), slot_count);
    case v1::OutboxItem::kInserted: {
      const v1::CameraInserted& i = item.inserted();
      RETURN_IF_ERROR(rpc::ValidateSerial("inserted.serial", i.serial()));
      RETURN_IF_ERROR(ValidateSlot("inserted.slot", i.slot(), slot_count));
      RETURN_IF_ERROR(ValidateVersion("inserted.certificate_serial", i.certificate_serial()));
      if (i.has_device_time())
        RETURN_IF_ERROR(ValidateTime("inserted.device_time", i.device_time()));
      return absl::OkStatus();
    }
    case v1::OutboxItem::kRemoved:
      RETURN_IF_ERROR(rpc::ValidateSerial("removed.serial", item.removed().serial()));
      return ValidateSlot("removed.slot", item.removed().slot(), slot_count);
    case v1::OutboxItem::kCheckout: {
      const v1::DockCheckout& c = item.checkout();
      RETURN_IF_ERROR(rpc::ValidateSerial("checkout.serial", c.serial()));
      RETURN_IF_ERROR(ValidateSlot("checkout.slot", c.slot(), slot_count));
      RETURN_IF_ERROR(rpc::ValidateBadge("checkout.badge", c.badge()));
      if (c.has_due_back_time()) {
        RETURN_IF_ERROR(ValidateTime("checkout.due_back_time", c.due_back_time()));
      }
      return ValidatePercent("checkout.battery_percent", c.battery_percent());
    }
    case v1::OutboxItem::kDockReturn: {
      const v1::DockReturn& r = item.dock_return();
      RETURN_IF_ERROR(rpc::ValidateSerial("dock_return.serial", r.serial()));
      RETURN_IF_ERROR(ValidateSlot("dock_return.slot", r.slot(), slot_count));
      if (!r.badge().empty()) RETURN_IF_ERROR(rpc::ValidateBadge("dock_return.badge", r.badge()));
      return absl::OkStatus();
    }
    case v1::OutboxItem::kAlert: {
      const v1::DockAlert& a = item.alert();
      if (a.kind() == v1::DOCK_ALERT_KIND_UNSPECIFIED || !v1::DockAlertKind_IsValid(a.kind())) {
        return Invalid("alert.kind", absl::StrCat("is ", a.kind(), "; give a DockAlertKind"));
      }
      if (!a.serial().empty()) RETURN_IF_ERROR(rpc::ValidateSerial("alert.serial", a.serial()));
      if (a.slot() != 0) RETURN_IF_ERROR(ValidateSlot("alert.slot", a.slot(), slot_count));
      return rpc::ValidateText("alert.message", a.message(), 1, kMaxAlertMessage);
    }
    case v1::OutboxItem::kFirmware:
      return rollout::ValidateProgress(item.firmware());
    case v1::OutboxItem::kThinned:
      return Invalid("thinned.thinned_through",
                     absl::StrCat("is ", item.thinned().thinned_through(),
                                  ", below the item's own sequence ", item.sequence()));
    default:
      return absl::InvalidArgumentError("item has no kind; set one of its oneof fields");
  }
}

void DockSyncManager::Open(const rpc::Identity& who, const v1::SyncHello& hello,
                           Done<OpenResult> done) {
  if (hello.protocol_version() < 1) {
    return done(absl::FailedPreconditionError(absl::StrCat("hello.protocol_version ",
                                                           hello.protocol_version(),
                                                           " is not supported; this server "
                                                           "speaks 1 to ",
                                                           kProtocolVersion)));
  }
  const std::string& epoch = hello.epoch();
  if (epoch.size() < 16 || epoch.size() > 64 ||
      !std::all_of(epoch.begin(), epoch.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
      })) {
    return done(absl::InvalidArgumentError(
        "hello.epoch must be 16-64 characters of [0-9a-f] (made when the outbox was created)"));
  }
  if (absl::Status s = ValidateVersion("hello.agent_version", hello.agent_version()); !s.ok()) {
    return done(s);
  }
  if (hello.slots_size() > 256) {
    return done(
        Invalid("hello.slots", absl::StrCat("has ", hello.slots_size(), " entries; at most 256")));
  }
  auto result = std::make_shared<OpenResult>();
  result->session.who = who;
  result->session.epoch = epoch;
  result->session.known_crl_number = hello.crl_number();
  const std::string generation = generation_;
  const uint32_t max_batch = options_.max_batch_items;
  store_.Write(
      [result, hello, generation, max_batch](WriteTx& tx) -> absl::Status {
        DockSession& session = result->session;
        absl::StatusOr<storage::DockRow> dock = storage::FindDock(tx.db(), session.who.name);
        if (absl::IsNotFound(dock.status()) || (dock.ok() && dock->revoked)) {
          return absl::PermissionDeniedError(
              absl::StrCat("dock '", session.who.name, "' is not enrolled or is revoked"));
        }
        RETURN_IF_ERROR(dock.status());
        session.dock_row = dock->id;
        session.site_id = dock->site_id;
        session.site_code = dock->dock.site_code();
        session.slot_count = dock->dock.slot_count();
        std::vector<v1::SlotOccupant> occupants;
        for (const v1::SlotOccupant& o : hello.slots()) {
          RETURN_IF_ERROR(ValidateSlot("hello.slots.slot", o.slot(), session.slot_count));
          RETURN_IF_ERROR(rpc::ValidateSerial("hello.slots.serial", o.serial()));
          occupants.push_back(o);
        }
        RETURN_IF_ERROR(
            storage::PutDockReport(tx, dock->id,
                                   {hello.epoch(), hello.agent_version(), hello.backlog_items(),
                                    hello.backlog_bytes(), hello.crl_number()}));
        RETURN_IF_ERROR(storage::ReplaceDockSlots(tx, dock->id, occupants));
        ASSIGN_OR_RETURN(storage::SyncPositions pos,
                         storage::GetSyncPositions(tx.db(), dock->id, session.epoch));
        v1::SyncWelcome& w = result->welcome;
        w.set_protocol_version(std::min(hello.protocol_version(), kProtocolVersion));
        w.set_generation(generation);
        w.set_epoch(session.epoch);
        w.set_custody_applied(pos.custody);
        w.set_telemetry_applied(pos.telemetry);
        *w.mutable_server_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(tx.now()));
        w.set_max_batch_items(max_batch);
        return absl::OkStatus();
      },
      [result, done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) return done(s);
        done(std::move(*result));
      });
}

void DockSyncManager::ApplyBatch(const DockSession& session, const v1::OutboxBatch& batch,
                                 Done<BatchResult> done) {
  if (static_cast<size_t>(batch.items_size()) > options_.max_batch_items) {
    return done(absl::InvalidArgumentError(absl::StrCat("batch has ", batch.items_size(),
                                                        " items; the welcome allows at most ",
                                                        options_.max_batch_items)));
  }
  auto result = std::make_shared<BatchResult>();
  auto shared_batch = std::make_shared<v1::OutboxBatch>(batch);
  store_.Write(
      [this, result, shared_batch, &session](WriteTx& tx) -> absl::Status {
        BatchApplier applier(tx, session, options_, revoked_);
        return applier.Apply(*shared_batch, *result);
      },
      [result, done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) return done(s);
        done(std::move(*result));
      });
}

absl::StatusOr<v1::SiteView> DockSyncManager::BuildSiteView(const DockSession& session) {
  v1::SiteView view;
  view.set_site_code(session.site_code);
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::SiteCamera> cameras,
                     storage::ListSiteCameras(db, session.site_id));
    absl::flat_hash_map<std::string, std::string> held;  // badge -> serial
    for (v1::SiteCamera& c : cameras) {
      if (!c.holder_badge().empty()) held[c.holder_badge()] = c.serial();
      *view.add_cameras() = std::move(c);
    }
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<v1::Holder> holders,
                       storage::ListHolders(db, session.site_id, after, 1000));
      for (const v1::Holder& h : holders) {
        v1::SiteHolder* sh = view.add_holders();
        sh->set_badge(h.badge());
        sh->set_name(h.name());
        if (auto it = held.find(h.badge()); it != held.end()) sh->set_holds_serial(it->second);
      }
      if (holders.size() < 1000) break;
      after = holders.back().badge();
    }
    ASSIGN_OR_RETURN(storage::SiteRules rules, storage::GetSiteRules(db, session.site_id));
    v1::CheckoutRules* r = view.mutable_rules();
    r->set_minimum_battery_percent(static_cast<uint32_t>(rules.minimum_battery_percent));
    *r->mutable_checkout_duration() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.checkout_duration));
    r->set_return_on_dock(rules.return_on_dock);
    *r->mutable_shift() = TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.shift));
    *r->mutable_reserve() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.reserve));
    return absl::OkStatus();
  }));
  *view.mutable_view_time() =
      TimeUtil::MicrosecondsToTimestamp(common::ToMicros(store_.clock().Now()));
  return view;
}

absl::StatusOr<v1::FirmwarePlan> DockSyncManager::BuildFirmwarePlan(
    const DockSession& session, std::vector<storage::PlannedUnit>* unsent, bool* ever) {
  v1::FirmwarePlan plan;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(plan, rollout::BuildPlan(db, session.site_id, store_.clock().Now(), unsent));
    if (ever != nullptr) {
      ASSIGN_OR_RETURN(*ever, storage::SiteHasRollouts(db, session.site_id));
    }
    return absl::OkStatus();
  }));
  return plan;
}

void DockSyncManager::MarkJobsSent(std::vector<storage::PlannedUnit> units) {
  if (units.empty()) return;
  store_.Write(
      [units = std::move(units)](WriteTx& tx) { return storage::MarkUnitsSent(tx, units); },
      [](absl::Status s) {
        if (!s.ok()) common::LogWarning("recording firmware jobs as sent: ", s.ToString());
      });
}

void DockSyncManager::NewerCrl(int64_t have, Done<std::optional<v1::CrlUpdate>> done) {
  identity_.GetCrl({}, [have,
                        done = std::move(done)](absl::StatusOr<v1::GetCrlResponse> crl) mutable {
    if (!crl.ok()) return done(crl.status());
    if (crl->crl_number() <= have) return done(std::optional<v1::CrlUpdate>());
    v1::CrlUpdate update;
    update.set_crl_number(crl->crl_number());
    update.set_crl_pem(crl->crl_pem());
    *update.mutable_revoked_factory_key_fingerprints() = crl->revoked_factory_key_fingerprints();
    done(std::optional<v1::CrlUpdate>(std::move(update)));
  });
}

absl::StatusOr<bool> DockSyncManager::CentralChangeSince(int64_t& mark) {
  // Actions that never change what a dock is told: the per-batch record of a stream, alerts
  // raised and acknowledged, rejected items. Everything else (a camera marked lost, retired or
  // faulty, a holder created or changed, a certificate revoked, rules set, a dock's own
  // check-out seen by its neighbours) may; the view is compared before it is sent anyway.
  static const std::vector<std::string> kIgnored = {"dock.sync", "alert.raise", "alert.acknowledge",
                                                    "dock.item.reject"};
  bool changed = false;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t latest, storage::LatestAuditSeq(db));
    if (latest > mark) {
      ASSIGN_OR_RETURN(changed, storage::AuditActionsBetween(db, mark, latest, kIgnored));
      mark = latest;
    }
    return absl::OkStatus();
  }));
  return changed;
}

v1::ServerTime DockSyncManager::Now() const {
  v1::ServerTime t;
  *t.mutable_server_time() =
      TimeUtil::MicrosecondsToTimestamp(common::ToMicros(store_.clock().Now()));
  return t;
}

}  // namespace camfleet::dock
