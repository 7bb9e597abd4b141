#pragma once
// SQL for what docks report about cameras: every health reading, the latest-health snapshot,
// and where and when a camera was last seen.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/monitoring.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// Full-charge capacity as per mille of design capacity, or nullopt when design is 0.
std::optional<int64_t> BatteryHealthPermille(const v1::HealthReading& reading);

// Stores one reading. Returns its row id, or nullopt if the camera's sequence number was
// stored already (a reading resent under a new dock epoch).
absl::StatusOr<std::optional<int64_t>> InsertHealthReading(WriteTx& tx, int64_t camera_id,
                                                           int64_t dock_id,
                                                           const v1::HealthReading& reading,
                                                           int64_t device_us);
// Makes reading `reading_id` the camera's latest health unless the snapshot holds a newer one
// (later device time, or the same time and a higher camera sequence). Returns whether it did.
absl::StatusOr<bool> UpdateHealthSnapshot(WriteTx& tx, int64_t camera_id, int64_t reading_id,
                                          const v1::HealthReading& reading, int64_t device_us);
// Records that `dock_id` saw the camera in `slot` at `seen_us` (server time): last_seen, last
// dock and last slot move forward only. Returns whether they moved.
absl::StatusOr<bool> MarkCameraSeen(WriteTx& tx, int64_t camera_id, int64_t dock_id, int slot,
                                    int64_t seen_us);
// Marks the worn-battery alert raised; returns false if it was raised before.
absl::StatusOr<bool> MarkWornAlerted(WriteTx& tx, int64_t camera_id);
// Records the camera's clock skew at its newest reading (nullopt: within the bound). Returns the
// value it had before.
absl::StatusOr<std::optional<int64_t>> SetClockSkew(WriteTx& tx, int64_t camera_id,
                                                    std::optional<int64_t> skew_us);

struct CameraStatus {
  std::optional<std::string> last_dock;  // dock id
  std::optional<int64_t> last_slot;
  std::optional<v1::HealthReading> health;
  std::optional<int64_t> battery_health_pm;
  std::optional<int64_t> clock_skew_us;
};
absl::StatusOr<CameraStatus> GetCameraStatus(common::Database& db, int64_t camera_id);

struct HealthCursor {
  int64_t device_us = 0;
  int64_t id = 0;
};
// The camera's readings, newest device time first, after `after` (exclusive), at most `limit`.
// Also returns each row's cursor for paging.
absl::StatusOr<std::vector<std::pair<v1::HealthRecord, HealthCursor>>> ListHealthReadings(
    common::Database& db, int64_t camera_id, std::optional<HealthCursor> after, int limit);
// How many readings of the camera are stored.
absl::StatusOr<int64_t> CountHealthReadings(common::Database& db, int64_t camera_id);

}  // namespace camfleet::storage
