#include "services/storage/rollout_repository.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/status_macros.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

constexpr char kSelectRollout[] =
    "SELECT r.id, r.release_id, f.release_id, f.version, f.withdrawn_us IS NOT NULL, r.state, "
    "r.reason, r.wave_percents, r.canary_site_id, COALESCE(cs.code, ''), r.wave_count, "
    "r.open_waves, r.threshold_ppm, r.threshold_count, r.threshold_waived, r.stop_after_wave, "
    "r.silence_timeout_us, r.note, r.created_us, r.created_by, r.updated_us, r.finished_us "
    "FROM rollouts r JOIN firmware_releases f ON f.id = r.release_id "
    "LEFT JOIN sites cs ON cs.id = r.canary_site_id ";

RolloutRow RolloutFromRow(const common::Statement& s) {
  RolloutRow r;
  r.id = s.ColumnInt(0);
  r.release_row = s.ColumnInt(1);
  r.release_id = s.ColumnText(2);
  r.release_version = s.ColumnText(3);
  r.release_withdrawn = s.ColumnInt(4) != 0;
  r.state = s.ColumnText(5);
  r.reason = s.ColumnText(6);
  r.wave_percents = s.ColumnText(7);
  r.canary_site_id = s.ColumnOptionalInt(8);
  r.canary_site_code = s.ColumnText(9);
  r.wave_count = s.ColumnInt(10);
  r.open_waves = s.ColumnInt(11);
  r.threshold_ppm = s.ColumnOptionalInt(12);
  r.threshold_count = s.ColumnOptionalInt(13);
  r.threshold_waived = s.ColumnInt(14);
  r.stop_after_wave = s.ColumnInt(15) != 0;
  r.silence_timeout_us = s.ColumnInt(16);
  r.note = s.ColumnText(17);
  r.created_us = s.ColumnInt(18);
  r.created_by = s.ColumnText(19);
  r.updated_us = s.ColumnInt(20);
  r.finished_us = s.ColumnOptionalInt(21);
  return r;
}

constexpr char kSelectUnit[] =
    "SELECT u.rollout_id, u.camera_id, c.serial, c.model, c.site_id, s.code, u.wave, u.state, "
    "u.attempt, u.last_error, u.running_version, u.sent_us, u.progress_us, u.finished_us "
    "FROM rollout_units u JOIN cameras c ON c.id = u.camera_id JOIN sites s ON s.id = c.site_id ";

RolloutUnitRow UnitFromRow(const common::Statement& s) {
  RolloutUnitRow u;
  u.rollout_id = s.ColumnInt(0);
  u.camera_id = s.ColumnInt(1);
  u.serial = s.ColumnText(2);
  u.model = s.ColumnText(3);
  u.site_id = s.ColumnInt(4);
  u.site_code = s.ColumnText(5);
  u.wave = s.ColumnInt(6);
  u.state = s.ColumnText(7);
  u.attempt = s.ColumnInt(8);
  u.last_error = s.ColumnText(9);
  u.running_version = s.ColumnText(10);
  u.sent_us = s.ColumnOptionalInt(11);
  u.progress_us = s.ColumnOptionalInt(12);
  u.finished_us = s.ColumnOptionalInt(13);
  return u;
}

absl::StatusOr<std::vector<int64_t>> Ids(common::Statement& s) {
  return CollectRows<int64_t>(s, [](const common::Statement& st) { return st.ColumnInt(0); });
}

}  // namespace

absl::StatusOr<int64_t> InsertRollout(WriteTx& tx, const RolloutRow& r) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare("INSERT INTO rollouts (release_id, state, reason, wave_percents, "
                      "canary_site_id, wave_count, open_waves, threshold_ppm, threshold_count, "
                      "threshold_waived, stop_after_wave, silence_timeout_us, note, created_us, "
                      "created_by, updated_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                      "?, ?)"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, r.release_row)
      .Bind(2, r.state)
      .Bind(3, r.reason)
      .Bind(4, r.wave_percents)
      .BindOptional(5, r.canary_site_id)
      .Bind(6, r.wave_count)
      .Bind(7, r.open_waves)
      .BindOptional(8, r.threshold_ppm)
      .BindOptional(9, r.threshold_count)
      .Bind(10, r.threshold_waived)
      .Bind(11, int64_t{r.stop_after_wave ? 1 : 0})
      .Bind(12, r.silence_timeout_us)
      .Bind(13, r.note)
      .Bind(14, now)
      .Bind(15, r.created_by)
      .Bind(16, now);
  RETURN_IF_ERROR(s.Run());
  return tx.db().LastInsertRowId();
}

absl::Status InsertRolloutTarget(WriteTx& tx, int64_t rollout_id, const RolloutTargetRow& t) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT OR IGNORE INTO rollout_targets (rollout_id, kind, "
                                   "value) VALUES (?, ?, ?)"));
  s.Bind(1, rollout_id).Bind(2, t.kind).Bind(3, t.value);
  return s.Run();
}

absl::Status InsertRolloutWindow(WriteTx& tx, int64_t rollout_id, const RolloutWindowRow& w) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO rollout_windows (rollout_id, site_id, "
                                   "start_minute, end_minute, time_zone) VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, rollout_id)
      .Bind(2, w.site_id)
      .Bind(3, w.start_minute)
      .Bind(4, w.end_minute)
      .Bind(5, w.time_zone);
  return RunInsert(s, absl::StrCat("install_windows: site ", w.site_code, " is given twice"));
}

absl::Status InsertRolloutUnit(WriteTx& tx, int64_t rollout_id, int64_t camera_id, int64_t wave) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO rollout_units (rollout_id, camera_id, wave, "
                                   "state, attempt, updated_us) VALUES (?, ?, ?, 'PENDING', 1, ?)"));
  s.Bind(1, rollout_id).Bind(2, camera_id).Bind(3, wave).Bind(4, common::ToMicros(tx.now()));
  return s.Run();
}

absl::Status UpdateRollout(WriteTx& tx, const RolloutRow& r) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE rollouts SET state = ?, reason = ?, open_waves = ?, "
                                   "threshold_waived = ?, finished_us = ?, updated_us = ? "
                                   "WHERE id = ?"));
  s.Bind(1, r.state)
      .Bind(2, r.reason)
      .Bind(3, r.open_waves)
      .Bind(4, r.threshold_waived)
      .BindOptional(5, r.finished_us)
      .Bind(6, common::ToMicros(tx.now()))
      .Bind(7, r.id);
  return s.Run();
}

absl::Status UpdateRolloutUnit(WriteTx& tx, const RolloutUnitRow& u) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE rollout_units SET state = ?, attempt = ?, "
                                   "last_error = ?, running_version = ?, sent_us = ?, "
                                   "progress_us = ?, finished_us = ?, updated_us = ? "
                                   "WHERE rollout_id = ? AND camera_id = ?"));
  s.Bind(1, u.state)
      .Bind(2, u.attempt)
      .Bind(3, u.last_error)
      .Bind(4, u.running_version)
      .BindOptional(5, u.sent_us)
      .BindOptional(6, u.progress_us)
      .BindOptional(7, u.finished_us)
      .Bind(8, common::ToMicros(tx.now()))
      .Bind(9, u.rollout_id)
      .Bind(10, u.camera_id);
  return s.Run();
}

absl::StatusOr<std::optional<RolloutRow>> FindRollout(common::Database& db, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectRollout, "WHERE r.id = ?")));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<RolloutRow>();
  return std::optional<RolloutRow>(RolloutFromRow(s));
}

absl::StatusOr<std::vector<RolloutRow>> ListRollouts(common::Database& db, const std::string& state,
                                                     int64_t before_id, int limit) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectRollout,
                                           "WHERE (?1 = 0 OR r.id < ?1) AND (?2 = '' OR r.state "
                                           "= ?2) ORDER BY r.id DESC LIMIT ?3")));
  s.Bind(1, before_id).Bind(2, state).Bind(3, int64_t{limit});
  return CollectRows<RolloutRow>(s, RolloutFromRow);
}

absl::StatusOr<std::vector<int64_t>> ActiveRolloutIds(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT id FROM rollouts WHERE state NOT IN ('COMPLETED', "
                              "'ABORTED') ORDER BY id"));
  return Ids(s);
}

absl::StatusOr<std::vector<int64_t>> ActiveRolloutsOfRelease(common::Database& db,
                                                             int64_t release_row) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT id FROM rollouts WHERE state NOT IN ('COMPLETED', "
                              "'ABORTED') AND release_id = ? ORDER BY id"));
  s.Bind(1, release_row);
  return Ids(s);
}

absl::StatusOr<std::vector<RolloutTargetRow>> ListRolloutTargets(common::Database& db,
                                                                 int64_t rollout_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT kind, value FROM rollout_targets WHERE rollout_id = ? "
                              "ORDER BY kind, value"));
  s.Bind(1, rollout_id);
  return CollectRows<RolloutTargetRow>(s, [](const common::Statement& st) {
    return RolloutTargetRow{st.ColumnText(0), st.ColumnText(1)};
  });
}

absl::StatusOr<std::vector<RolloutWindowRow>> ListRolloutWindows(common::Database& db,
                                                                 int64_t rollout_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT w.site_id, s.code, w.start_minute, w.end_minute, "
                              "w.time_zone FROM rollout_windows w JOIN sites s ON s.id = "
                              "w.site_id WHERE w.rollout_id = ? ORDER BY s.code"));
  s.Bind(1, rollout_id);
  return CollectRows<RolloutWindowRow>(s, [](const common::Statement& st) {
    return RolloutWindowRow{st.ColumnInt(0), st.ColumnText(1), st.ColumnInt(2), st.ColumnInt(3),
                            st.ColumnText(4)};
  });
}

absl::StatusOr<std::vector<RolloutUnitRow>> ListRolloutUnits(common::Database& db,
                                                             int64_t rollout_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectUnit,
                                           "WHERE u.rollout_id = ? ORDER BY u.wave, c.serial")));
  s.Bind(1, rollout_id);
  return CollectRows<RolloutUnitRow>(s, UnitFromRow);
}

absl::StatusOr<std::optional<RolloutUnitRow>> FindRolloutUnit(common::Database& db,
                                                              int64_t rollout_id,
                                                              int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectUnit,
                                           "WHERE u.rollout_id = ? AND u.camera_id = ?")));
  s.Bind(1, rollout_id).Bind(2, camera_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<RolloutUnitRow>();
  return std::optional<RolloutUnitRow>(UnitFromRow(s));
}

absl::StatusOr<std::optional<int64_t>> ActiveRolloutOfCamera(common::Database& db,
                                                             int64_t camera_id, int64_t except) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT r.id FROM rollout_units u JOIN rollouts r ON r.id = "
                              "u.rollout_id WHERE u.camera_id = ? AND r.id <> ? AND r.state NOT "
                              "IN ('COMPLETED', 'ABORTED') ORDER BY r.id LIMIT 1"));
  s.Bind(1, camera_id).Bind(2, except);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(s.ColumnInt(0));
}

absl::StatusOr<std::vector<RolloutCandidate>> RolloutCandidates(
    common::Database& db, const std::vector<std::string>& models) {
  std::vector<RolloutCandidate> out;
  for (const std::string& model : models) {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare("SELECT c.id, c.serial, c.model, c.site_id, c.state, h.reading "
                                "FROM cameras c LEFT JOIN camera_status cs ON cs.camera_id = c.id "
                                "LEFT JOIN health_readings h ON h.id = cs.health_reading_id "
                                "WHERE c.model = ? AND c.state NOT IN ('LOST', 'RETIRED') "
                                "ORDER BY c.serial"));
    s.Bind(1, model);
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      RolloutCandidate c{s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2), s.ColumnInt(3),
                         s.ColumnText(4), ""};
      if (!s.ColumnIsNull(5)) {
        v1::HealthReading reading;
        if (reading.ParseFromString(s.ColumnBlob(5))) {
          c.firmware_version = reading.firmware_version();
        }
      }
      out.push_back(std::move(c));
    }
  }
  std::sort(out.begin(), out.end(), [](const RolloutCandidate& a, const RolloutCandidate& b) {
    return a.serial < b.serial;
  });
  return out;
}

absl::StatusOr<absl::flat_hash_map<int64_t, SiteNode>> AllSites(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare("SELECT id, code, parent_id FROM sites"));
  absl::flat_hash_map<int64_t, SiteNode> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out[s.ColumnInt(0)] = SiteNode{s.ColumnText(1), s.ColumnOptionalInt(2)};
  }
  return out;
}

absl::StatusOr<std::vector<PlannedUnit>> PlannedUnitsOfSite(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare("SELECT u.rollout_id, u.camera_id, c.serial, f.release_id, u.attempt, u.sent_us "
                 "FROM rollout_units u JOIN rollouts r ON r.id = u.rollout_id "
                 "JOIN firmware_releases f ON f.id = r.release_id "
                 "JOIN cameras c ON c.id = u.camera_id "
                 "WHERE c.site_id = ? AND r.state IN ('RUNNING', 'AWAITING_NEXT_WAVE') "
                 "AND f.withdrawn_us IS NULL AND u.wave <= r.open_waves "
                 "AND u.state IN ('PENDING', 'DOWNLOADING', 'INSTALLING') "
                 "ORDER BY c.serial, r.id"));
  s.Bind(1, site_id);
  return CollectRows<PlannedUnit>(s, [](const common::Statement& st) {
    return PlannedUnit{st.ColumnInt(0),  st.ColumnInt(1), st.ColumnText(2),
                       st.ColumnText(3), st.ColumnInt(4), st.ColumnOptionalInt(5)};
  });
}

absl::StatusOr<std::vector<std::string>> WithdrawnReleasesOfSite(common::Database& db,
                                                                 int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT DISTINCT f.release_id FROM rollouts r "
                              "JOIN firmware_releases f ON f.id = r.release_id "
                              "WHERE f.withdrawn_us IS NOT NULL AND EXISTS (SELECT 1 FROM "
                              "rollout_units u JOIN cameras c ON c.id = u.camera_id WHERE "
                              "u.rollout_id = r.id AND c.site_id = ?) ORDER BY f.release_id"));
  s.Bind(1, site_id);
  return CollectRows<std::string>(s,
                                  [](const common::Statement& st) { return st.ColumnText(0); });
}

absl::Status MarkUnitsSent(WriteTx& tx, const std::vector<PlannedUnit>& units) {
  const int64_t now = common::ToMicros(tx.now());
  for (const PlannedUnit& u : units) {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("UPDATE rollout_units SET sent_us = ?, updated_us = ? WHERE "
                                     "rollout_id = ? AND camera_id = ? AND attempt = ? AND "
                                     "sent_us IS NULL"));
    s.Bind(1, now).Bind(2, now).Bind(3, u.rollout_id).Bind(4, u.camera_id).Bind(5, u.attempt);
    RETURN_IF_ERROR(s.Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SiteHasRollouts(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT 1 FROM rollout_units u JOIN cameras c ON c.id = "
                              "u.camera_id WHERE c.site_id = ? LIMIT 1"));
  s.Bind(1, site_id);
  return s.Step();
}

absl::StatusOr<std::optional<int64_t>> ReleaseRowId(common::Database& db,
                                                    const std::string& release_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT id FROM firmware_releases WHERE release_id = ?"));
  s.Bind(1, release_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(s.ColumnInt(0));
}

absl::StatusOr<std::optional<int64_t>> LatestDockContact(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT MAX(last_contact_us) FROM docks WHERE site_id = ? AND "
                              "revoked_us IS NULL"));
  s.Bind(1, site_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<int64_t>();
  return s.ColumnOptionalInt(0);
}

// The unfinished rollouts through their partial index (rollouts_active), then their units by
// primary key: never a scan of every unit of every rollout there ever was.
constexpr char kCountUnitsOfUnfinishedSql[] =
    "SELECT u.rollout_id, u.wave, u.state, COUNT(*) FROM rollout_units u WHERE u.rollout_id IN "
    "(SELECT id FROM rollouts WHERE state NOT IN ('COMPLETED', 'ABORTED')) "
    "GROUP BY u.rollout_id, u.wave, u.state ORDER BY u.rollout_id, u.wave, u.state";

absl::StatusOr<std::vector<RolloutWaveStateCount>> CountUnitsOfUnfinishedRollouts(
    common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(kCountUnitsOfUnfinishedSql));
  return CollectRows<RolloutWaveStateCount>(s, [](const common::Statement& st) {
    return RolloutWaveStateCount{st.ColumnInt(0), st.ColumnInt(1), st.ColumnText(2),
                                 st.ColumnInt(3)};
  });
}

}  // namespace camfleet::storage
