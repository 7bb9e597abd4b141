#include "services/dock/item_validation.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rollout/rollout_engine.h"
#include "services/rpc/validation.h"

namespace camfleet::dock {
namespace {

using google::protobuf::util::TimeUtil;

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

}  // namespace

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

std::string LaneName(v1::SyncLane lane) {
  return lane == v1::SYNC_LANE_CUSTODY ? "custody" : "telemetry";
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

}  // namespace camfleet::dock
