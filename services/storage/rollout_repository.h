#pragma once
// SQL for staged firmware rollouts (migration 0006): rollouts, their target selectors and
// install windows, and one row per targeted camera. The rules (waves, thresholds, silence) are
// in services/rollout/rollout_engine.h; this file only reads and writes rows.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

struct RolloutRow {
  int64_t id = 0;
  int64_t release_row = 0;
  std::string release_id;  // hex
  std::string release_version;
  bool release_withdrawn = false;
  std::string state;  // RUNNING, PAUSED, AWAITING_NEXT_WAVE, COMPLETED, ABORTED
  std::string reason;
  std::string wave_percents;  // "5,25,100"
  std::optional<int64_t> canary_site_id;
  std::string canary_site_code;
  int64_t wave_count = 1;
  int64_t open_waves = 1;
  std::optional<int64_t> threshold_ppm;
  std::optional<int64_t> threshold_count;
  int64_t threshold_waived = 0;
  bool stop_after_wave = false;
  int64_t silence_timeout_us = 0;
  std::string note;
  int64_t created_us = 0;
  std::string created_by;
  int64_t updated_us = 0;
  std::optional<int64_t> finished_us;
};

struct RolloutTargetRow {
  std::string kind;  // model, site, version, serial
  std::string value;
};

struct RolloutWindowRow {
  int64_t site_id = 0;
  std::string site_code;
  int64_t start_minute = 0;
  int64_t end_minute = 0;
  std::string time_zone;
};

struct RolloutUnitRow {
  int64_t rollout_id = 0;
  int64_t camera_id = 0;
  std::string serial;
  std::string model;
  int64_t site_id = 0;
  std::string site_code;
  int64_t wave = 1;
  std::string state;  // PENDING, DOWNLOADING, INSTALLING, SUCCEEDED, FAILED, ROLLED_BACK
  int64_t attempt = 1;
  std::string last_error;
  std::string running_version;
  std::optional<int64_t> sent_us;
  std::optional<int64_t> progress_us;
  std::optional<int64_t> finished_us;
};

// A camera a selector may match.
struct RolloutCandidate {
  int64_t id = 0;
  std::string serial;
  std::string model;
  int64_t site_id = 0;
  std::string state;
  std::string firmware_version;  // from its latest health reading; empty if none
};

struct SiteNode {
  std::string code;
  std::optional<int64_t> parent_id;
};

// Inserts the rollout (id is ignored) and returns its id.
absl::StatusOr<int64_t> InsertRollout(WriteTx& tx, const RolloutRow& row);
absl::Status InsertRolloutTarget(WriteTx& tx, int64_t rollout_id, const RolloutTargetRow& t);
absl::Status InsertRolloutWindow(WriteTx& tx, int64_t rollout_id, const RolloutWindowRow& w);
absl::Status InsertRolloutUnit(WriteTx& tx, int64_t rollout_id, int64_t camera_id, int64_t wave);
// Writes state, reason, open_waves, threshold_waived, finished_us; updated_us = now.
absl::Status UpdateRollout(WriteTx& tx, const RolloutRow& row);
// Writes state, attempt, last_error, running_version, sent_us, progress_us, finished_us.
absl::Status UpdateRolloutUnit(WriteTx& tx, const RolloutUnitRow& unit);

absl::StatusOr<std::optional<RolloutRow>> FindRollout(common::Database& db, int64_t id);
// Newest first: ids below `before_id` (0: from the newest), in `state` if not empty.
absl::StatusOr<std::vector<RolloutRow>> ListRollouts(common::Database& db, const std::string& state,
                                                     int64_t before_id, int limit);
// Ids of rollouts that are RUNNING, PAUSED or AWAITING_NEXT_WAVE.
absl::StatusOr<std::vector<int64_t>> ActiveRolloutIds(common::Database& db);
// Rollouts of a release that are not finished.
absl::StatusOr<std::vector<int64_t>> ActiveRolloutsOfRelease(common::Database& db,
                                                             int64_t release_row);
absl::StatusOr<std::vector<RolloutTargetRow>> ListRolloutTargets(common::Database& db,
                                                                 int64_t rollout_id);
absl::StatusOr<std::vector<RolloutWindowRow>> ListRolloutWindows(common::Database& db,
                                                                 int64_t rollout_id);
// Units ordered by wave, then serial.
absl::StatusOr<std::vector<RolloutUnitRow>> ListRolloutUnits(common::Database& db,
                                                             int64_t rollout_id);
absl::StatusOr<std::optional<RolloutUnitRow>> FindRolloutUnit(common::Database& db,
                                                              int64_t rollout_id,
                                                              int64_t camera_id);
// The other active rollout (not `except`) with a unit for the camera, if any.
absl::StatusOr<std::optional<int64_t>> ActiveRolloutOfCamera(common::Database& db,
                                                             int64_t camera_id, int64_t except);

// Cameras of any of `models` that are not LOST or RETIRED, by serial.
absl::StatusOr<std::vector<RolloutCandidate>> RolloutCandidates(
    common::Database& db, const std::vector<std::string>& models);
// Every site with its parent, by id.
absl::StatusOr<absl::flat_hash_map<int64_t, SiteNode>> AllSites(common::Database& db);

// Units to plan for the cameras of `site_id`: of RUNNING or AWAITING_NEXT_WAVE rollouts, in an
// open wave, PENDING, DOWNLOADING or INSTALLING; with the rollout's release id (hex) in
// RolloutUnitRow::running_version's place is not used: see PlannedUnit.
struct PlannedUnit {
  int64_t rollout_id = 0;
  int64_t camera_id = 0;
  std::string serial;
  std::string release_id;  // hex
  int64_t attempt = 1;
  std::optional<int64_t> sent_us;
};
absl::StatusOr<std::vector<PlannedUnit>> PlannedUnitsOfSite(common::Database& db, int64_t site_id);
// Releases (hex ids) that are withdrawn and were the release of a rollout with a camera of
// `site_id`.
absl::StatusOr<std::vector<std::string>> WithdrawnReleasesOfSite(common::Database& db,
                                                                 int64_t site_id);
// Sets sent_us = now for the units given (rollout, camera, attempt) whose sent_us is unset and
// whose attempt is still that one.
absl::Status MarkUnitsSent(WriteTx& tx, const std::vector<PlannedUnit>& units);
// Whether any rollout ever targeted a camera of the site.
absl::StatusOr<bool> SiteHasRollouts(common::Database& db, int64_t site_id);
// The row id of release `release_id` (hex), if any.
absl::StatusOr<std::optional<int64_t>> ReleaseRowId(common::Database& db,
                                                    const std::string& release_id);
// The latest contact of any dock of the site that is not revoked.
absl::StatusOr<std::optional<int64_t>> LatestDockContact(common::Database& db, int64_t site_id);

// Cameras per (rollout, wave, unit state) of the rollouts that are not finished (RUNNING,
// PAUSED, AWAITING_NEXT_WAVE), ordered by rollout, wave and state; only combinations that
// have cameras. One GROUP BY on a reader connection, for /metrics.
struct RolloutWaveStateCount {
  int64_t rollout_id = 0;
  int64_t wave = 1;
  std::string state;  // PENDING, DOWNLOADING, INSTALLING, SUCCEEDED, FAILED, ROLLED_BACK
  int64_t cameras = 0;
};
absl::StatusOr<std::vector<RolloutWaveStateCount>> CountUnitsOfUnfinishedRollouts(
    common::Database& db);

}  // namespace camfleet::storage
