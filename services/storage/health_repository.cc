#include "services/storage/health_repository.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/rows.h"

namespace camfleet::storage {

std::optional<int64_t> BatteryHealthPermille(const v1::HealthReading& reading) {
  if (reading.design_capacity_mah() == 0) return std::nullopt;
  return int64_t{reading.full_charge_capacity_mah()} * 1000 / reading.design_capacity_mah();
}

absl::StatusOr<std::optional<int64_t>> InsertHealthReading(WriteTx& tx, int64_t camera_id,
                                                           int64_t dock_id,
                                                           const v1::HealthReading& reading,
                                                           int64_t device_us) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO health_readings (camera_id, dock_id, slot, "
                                   "camera_sequence, device_us, received_us, battery_percent, "
                                   "battery_health_pm, cycle_count, reading) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                   "ON CONFLICT (camera_id, camera_sequence) DO NOTHING"));
  s.Bind(1, camera_id)
      .Bind(2, dock_id)
      .Bind(3, int64_t{reading.slot()})
      .Bind(4, static_cast<int64_t>(reading.camera_sequence()))
      .Bind(5, device_us)
      .Bind(6, common::ToMicros(tx.now()))
      .Bind(7, int64_t{reading.battery_percent()})
      .BindOptional(8, BatteryHealthPermille(reading))
      .Bind(9, int64_t{reading.cycle_count()})
      .BindBlob(10, reading.SerializeAsString());
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(tx.db().LastInsertRowId());
}

absl::StatusOr<bool> UpdateHealthSnapshot(WriteTx& tx, int64_t camera_id, int64_t reading_id,
                                          const v1::HealthReading& reading, int64_t device_us) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare("INSERT INTO camera_status (camera_id, health_reading_id, health_device_us, "
                      "health_sequence, battery_percent, battery_health_pm) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (camera_id) DO UPDATE SET "
                      "health_reading_id = ?2, health_device_us = ?3, health_sequence = ?4, "
                      "battery_percent = ?5, battery_health_pm = ?6 "
                      "WHERE health_device_us IS NULL OR health_device_us < ?3 "
                      "OR (health_device_us = ?3 AND health_sequence < ?4)"));
  s.Bind(1, camera_id)
      .Bind(2, reading_id)
      .Bind(3, device_us)
      .Bind(4, static_cast<int64_t>(reading.camera_sequence()))
      .Bind(5, int64_t{reading.battery_percent()})
      .BindOptional(6, BatteryHealthPermille(reading));
  RETURN_IF_ERROR(s.Run());
  return tx.db().Changes() == 1;
}

absl::StatusOr<bool> MarkCameraSeen(WriteTx& tx, int64_t camera_id, int64_t dock_id, int slot,
                                    int64_t seen_us) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE cameras SET last_seen_us = ?1 WHERE id = ?2 AND "
                                   "(last_seen_us IS NULL OR last_seen_us <= ?1)"));
  s.Bind(1, seen_us).Bind(2, camera_id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) return false;
  ASSIGN_OR_RETURN(common::Statement where,
                   tx.db().Prepare("INSERT INTO camera_status (camera_id, last_dock_id, "
                                   "last_slot) VALUES (?1, ?2, ?3) ON CONFLICT (camera_id) DO "
                                   "UPDATE SET last_dock_id = ?2, last_slot = ?3"));
  where.Bind(1, camera_id).Bind(2, dock_id).Bind(3, int64_t{slot});
  RETURN_IF_ERROR(where.Run());
  return true;
}

absl::StatusOr<bool> MarkWornAlerted(WriteTx& tx, int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO camera_status (camera_id, worn_alerted_us) "
                                   "VALUES (?1, ?2) ON CONFLICT (camera_id) DO UPDATE SET "
                                   "worn_alerted_us = ?2 WHERE worn_alerted_us IS NULL"));
  s.Bind(1, camera_id).Bind(2, common::ToMicros(tx.now()));
  RETURN_IF_ERROR(s.Run());
  return tx.db().Changes() == 1;
}

absl::StatusOr<std::optional<int64_t>> SetClockSkew(WriteTx& tx, int64_t camera_id,
                                                    std::optional<int64_t> skew_us) {
  ASSIGN_OR_RETURN(CameraStatus before, GetCameraStatus(tx.db(), camera_id));
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO camera_status (camera_id, clock_skew_us) "
                                   "VALUES (?1, ?2) ON CONFLICT (camera_id) DO UPDATE SET "
                                   "clock_skew_us = ?2"));
  s.Bind(1, camera_id).BindOptional(2, skew_us);
  RETURN_IF_ERROR(s.Run());
  return before.clock_skew_us;
}

absl::StatusOr<CameraStatus> GetCameraStatus(common::Database& db, int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT d.dock_id, cs.last_slot, r.reading, cs.battery_health_pm, "
                              "cs.clock_skew_us FROM camera_status cs "
                              "LEFT JOIN docks d ON d.id = cs.last_dock_id "
                              "LEFT JOIN health_readings r ON r.id = cs.health_reading_id "
                              "WHERE cs.camera_id = ?"));
  s.Bind(1, camera_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  CameraStatus out;
  if (!row) return out;
  if (!s.ColumnIsNull(0)) out.last_dock = s.ColumnText(0);
  out.last_slot = s.ColumnOptionalInt(1);
  if (!s.ColumnIsNull(2)) {
    v1::HealthReading reading;
    if (!reading.ParseFromString(s.ColumnBlob(2))) {
      return absl::InternalError(
          absl::StrCat("stored health reading of camera row ", camera_id, " does not parse"));
    }
    out.health = std::move(reading);
  }
  out.battery_health_pm = s.ColumnOptionalInt(3);
  out.clock_skew_us = s.ColumnOptionalInt(4);
  return out;
}

absl::StatusOr<std::vector<std::pair<v1::HealthRecord, HealthCursor>>> ListHealthReadings(
    common::Database& db, int64_t camera_id, std::optional<HealthCursor> after, int limit) {
  // The cursor is a seek on health_readings_by_camera (camera_id, device_us): a deep page starts
  // at the cursor's device time instead of reading every newer reading of the camera first.
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(
          "SELECT r.id, r.device_us, r.reading, d.dock_id, r.received_us "
          "FROM health_readings r JOIN docks d ON d.id = r.dock_id "
          "WHERE r.camera_id = ?1 ",
          after.has_value() ? "AND r.device_us <= ?2 AND (r.device_us < ?2 OR r.id < ?3) " : "",
          "ORDER BY r.device_us DESC, r.id DESC LIMIT ?4")));
  s.Bind(1, camera_id);
  if (after.has_value()) s.Bind(2, after->device_us).Bind(3, after->id);
  s.Bind(4, int64_t{limit});
  std::vector<std::pair<v1::HealthRecord, HealthCursor>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    v1::HealthRecord record;
    if (!record.mutable_reading()->ParseFromString(s.ColumnBlob(2))) {
      return absl::InternalError(
          absl::StrCat("health reading ", s.ColumnInt(0), " does not parse"));
    }
    record.set_dock_id(s.ColumnText(3));
    *record.mutable_receive_time() = MicrosToTimestamp(s.ColumnInt(4));
    out.emplace_back(std::move(record), HealthCursor{s.ColumnInt(1), s.ColumnInt(0)});
  }
}

absl::StatusOr<int64_t> CountHealthReadings(common::Database& db, int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT COUNT(*) FROM health_readings WHERE camera_id = ?"));
  s.Bind(1, camera_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : 0;
}

}  // namespace camfleet::storage
