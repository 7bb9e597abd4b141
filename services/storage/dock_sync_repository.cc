#include "services/storage/dock_sync_repository.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

constexpr char kGenerationSetting[] = "database_generation";

int64_t ToInt(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

absl::StatusOr<SyncPositions> GetSyncPositions(common::Database& db, int64_t dock_id,
                                               const std::string& epoch) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare("SELECT lane, applied FROM sync_positions "
                                                   "WHERE dock_id = ? AND epoch = ?"));
  s.Bind(1, dock_id).Bind(2, epoch);
  SyncPositions out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    const uint64_t applied = static_cast<uint64_t>(s.ColumnInt(1));
    if (s.ColumnInt(0) == v1::SYNC_LANE_CUSTODY) out.custody = applied;
    if (s.ColumnInt(0) == v1::SYNC_LANE_TELEMETRY) out.telemetry = applied;
  }
  return out;
}

absl::Status PutSyncPositions(WriteTx& tx, int64_t dock_id, const std::string& epoch,
                              const SyncPositions& positions) {
  const std::pair<int, uint64_t> lanes[] = {{v1::SYNC_LANE_CUSTODY, positions.custody},
                                            {v1::SYNC_LANE_TELEMETRY, positions.telemetry}};
  for (const auto& [lane, applied] : lanes) {
    // Prepared per lane: the cached statement is reset when the handle goes out of scope.
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("INSERT INTO sync_positions (dock_id, epoch, lane, applied, "
                                     "updated_us) VALUES (?1, ?2, ?3, ?4, ?5) "
                                     "ON CONFLICT (dock_id, epoch, lane) DO UPDATE SET "
                                     "applied = excluded.applied, updated_us = excluded.updated_us "
                                     "WHERE excluded.applied >= applied"));
    s.Bind(1, dock_id)
        .Bind(2, epoch)
        .Bind(3, int64_t{lane})
        .Bind(4, ToInt(applied))
        .Bind(5, common::ToMicros(tx.now()));
    RETURN_IF_ERROR(s.Run());
    if (tx.db().Changes() != 1) {
      return absl::InternalError(
          absl::StrCat("sync position of lane ", lane, " would move back to ", applied));
    }
  }
  return absl::OkStatus();
}

absl::Status PutDockReport(WriteTx& tx, int64_t dock_id, const DockReport& r) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO dock_status (dock_id, epoch, agent_version, "
                                   "backlog_items, backlog_bytes, crl_number, reported_us) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (dock_id) DO "
                                   "UPDATE SET epoch = ?2, agent_version = ?3, backlog_items = ?4, "
                                   "backlog_bytes = ?5, crl_number = ?6, reported_us = ?7"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, dock_id)
      .Bind(2, r.epoch)
      .Bind(3, r.agent_version)
      .Bind(4, ToInt(r.backlog_items))
      .Bind(5, ToInt(r.backlog_bytes))
      .Bind(6, r.crl_number)
      .Bind(7, now);
  RETURN_IF_ERROR(s.Run());
  ASSIGN_OR_RETURN(common::Statement touch,
                   tx.db().Prepare("UPDATE docks SET last_contact_us = ? WHERE id = ?"));
  touch.Bind(1, now).Bind(2, dock_id);
  return touch.Run();
}

absl::Status ReduceDockBacklog(WriteTx& tx, int64_t dock_id, uint64_t items, uint64_t bytes) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE dock_status SET "
                                   "backlog_items = MAX(0, backlog_items - ?1), "
                                   "backlog_bytes = CASE WHEN backlog_items <= ?1 THEN 0 "
                                   "ELSE MAX(0, backlog_bytes - ?2) END "
                                   "WHERE dock_id = ?3"));
  s.Bind(1, ToInt(items)).Bind(2, ToInt(bytes)).Bind(3, dock_id);
  RETURN_IF_ERROR(s.Run());
  ASSIGN_OR_RETURN(common::Statement touch,
                   tx.db().Prepare("UPDATE docks SET last_contact_us = ? WHERE id = ?"));
  touch.Bind(1, common::ToMicros(tx.now())).Bind(2, dock_id);
  return touch.Run();
}

absl::Status ReplaceDockSlots(WriteTx& tx, int64_t dock_id,
                              const std::vector<v1::SlotOccupant>& slots) {
  // Slots not named are empty now; occupants that did not change keep their since_us.
  ASSIGN_OR_RETURN(DockStatus before, GetDockStatus(tx.db(), dock_id));
  for (const v1::SlotOccupant& old : before.slots) {
    bool named = false;
    for (const v1::SlotOccupant& slot : slots) named = named || slot.slot() == old.slot();
    if (!named) RETURN_IF_ERROR(SetDockSlot(tx, dock_id, static_cast<int>(old.slot()), ""));
  }
  for (const v1::SlotOccupant& slot : slots) {
    RETURN_IF_ERROR(SetDockSlot(tx, dock_id, static_cast<int>(slot.slot()), slot.serial()));
  }
  return absl::OkStatus();
}

absl::Status SetDockSlot(WriteTx& tx, int64_t dock_id, int slot, const std::string& serial) {
  if (serial.empty()) {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("DELETE FROM dock_slots WHERE dock_id = ? AND slot = ?"));
    s.Bind(1, dock_id).Bind(2, int64_t{slot});
    return s.Run();
  }
  // A camera sits in one slot at a time: a serial seen elsewhere in this dock moved.
  ASSIGN_OR_RETURN(common::Statement moved,
                   tx.db().Prepare("DELETE FROM dock_slots WHERE dock_id = ? AND serial = ? "
                                   "AND slot != ?"));
  moved.Bind(1, dock_id).Bind(2, serial).Bind(3, int64_t{slot});
  RETURN_IF_ERROR(moved.Run());
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO dock_slots (dock_id, slot, serial, since_us) "
                                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (dock_id, slot) DO UPDATE "
                                   "SET serial = ?3, since_us = ?4 WHERE serial != ?3"));
  s.Bind(1, dock_id).Bind(2, int64_t{slot}).Bind(3, serial).Bind(4, common::ToMicros(tx.now()));
  return s.Run();
}

absl::StatusOr<DockStatus> GetDockStatus(common::Database& db, int64_t dock_id) {
  DockStatus out;
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT epoch, agent_version, backlog_items, backlog_bytes, "
                              "crl_number, reported_us FROM dock_status WHERE dock_id = ?"));
  s.Bind(1, dock_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (row) {
    DockReport r;
    r.epoch = s.ColumnText(0);
    r.agent_version = s.ColumnText(1);
    r.backlog_items = static_cast<uint64_t>(s.ColumnInt(2));
    r.backlog_bytes = static_cast<uint64_t>(s.ColumnInt(3));
    r.crl_number = s.ColumnInt(4);
    out.report = std::move(r);
    out.reported_us = s.ColumnInt(5);
  }
  ASSIGN_OR_RETURN(common::Statement slots,
                   db.Prepare("SELECT slot, serial FROM dock_slots WHERE dock_id = ? "
                              "ORDER BY slot"));
  slots.Bind(1, dock_id);
  ASSIGN_OR_RETURN(out.slots, CollectRows<v1::SlotOccupant>(slots, [](const common::Statement& st) {
                     v1::SlotOccupant o;
                     o.set_slot(static_cast<uint32_t>(st.ColumnInt(0)));
                     o.set_serial(st.ColumnText(1));
                     return o;
                   }));
  return out;
}

absl::StatusOr<std::vector<v1::SiteCamera>> ListSiteCameras(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare("SELECT c.serial, c.state, COALESCE(h.badge, ''), "
                 "COALESCE(cert.revoked_us IS NOT NULL, 0) FROM cameras c "
                 "LEFT JOIN assignments a ON a.camera_id = c.id AND a.returned_us IS NULL "
                 "LEFT JOIN holders h ON h.id = a.holder_id "
                 "LEFT JOIN camera_certificates cc ON cc.camera_id = c.id "
                 "LEFT JOIN certificates cert ON cert.id = cc.certificate_id "
                 "WHERE c.site_id = ? ORDER BY c.serial"));
  s.Bind(1, site_id);
  return CollectRows<v1::SiteCamera>(s, [](const common::Statement& st) {
    v1::SiteCamera c;
    c.set_serial(st.ColumnText(0));
    v1::CameraState state = v1::CAMERA_STATE_UNSPECIFIED;
    v1::CameraState_Parse(absl::StrCat("CAMERA_STATE_", st.ColumnText(1)), &state);
    c.set_state(state);
    c.set_holder_badge(st.ColumnText(2));
    c.set_revoked(st.ColumnInt(3) != 0);
    return c;
  });
}

absl::Status InsertRejectedItem(WriteTx& tx, const RejectedRecord& r) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO rejected_items (dock_id, epoch, lane, sequence, "
                                   "code, reason, received_us) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, r.dock_id)
      .Bind(2, r.epoch)
      .Bind(3, int64_t{r.lane})
      .Bind(4, ToInt(r.sequence))
      .Bind(5, int64_t{r.code})
      .Bind(6, r.reason)
      .Bind(7, common::ToMicros(tx.now()));
  return RunInsert(s,
                   absl::StrCat("item ", r.sequence, " of lane ", r.lane, " was rejected already"));
}

absl::StatusOr<int64_t> CountRejectedItems(common::Database& db, int64_t dock_id,
                                           const std::string& epoch) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT COUNT(*) FROM rejected_items WHERE dock_id = ? "
                              "AND epoch = ?"));
  s.Bind(1, dock_id).Bind(2, epoch);
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : 0;
}

absl::StatusOr<std::vector<DockBacklog>> ListDockBacklogs(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT d.dock_id, s.backlog_items, s.backlog_bytes FROM dock_status s "
                              "JOIN docks d ON d.id = s.dock_id WHERE d.revoked_us IS NULL "
                              "ORDER BY d.dock_id"));
  std::vector<DockBacklog> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.ColumnText(0), s.ColumnInt(1), s.ColumnInt(2)});
  }
  return out;
}

absl::StatusOr<std::string> GetDatabaseGeneration(common::Database& db) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, GetSetting(db, kGenerationSetting));
  if (!value.has_value()) return absl::InternalError("the database has no generation id");
  return *value;
}

absl::StatusOr<std::string> EnsureDatabaseGeneration(Store& store) {
  // Read first: a server starting on a disk that is slow (or held by a test) must not wait for
  // an fsync of an empty write.
  std::optional<std::string> stored;
  RETURN_IF_ERROR(store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(stored, GetSetting(db, kGenerationSetting));
    return absl::OkStatus();
  }));
  if (stored.has_value()) return *stored;
  ASSIGN_OR_RETURN(std::string random, provisioning::RandomBytes(16));
  std::string generation = absl::BytesToHexString(random);
  RETURN_IF_ERROR(store.WriteAndWait([&](WriteTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<std::string> existing, GetSetting(tx.db(), kGenerationSetting));
    if (existing.has_value()) {
      generation = *existing;
      return absl::OkStatus();
    }
    return PutSetting(tx.db(), kGenerationSetting, generation);
  }));
  return generation;
}

absl::StatusOr<SiteRules> GetSiteRules(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT minimum_battery_percent, checkout_duration_s, "
                              "return_on_dock, shift_s, reserve_s FROM site_rules "
                              "WHERE site_id = ?"));
  s.Bind(1, site_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  SiteRules rules;
  if (!row) return rules;
  rules.minimum_battery_percent = static_cast<int>(s.ColumnInt(0));
  rules.checkout_duration = absl::Seconds(s.ColumnInt(1));
  rules.return_on_dock = s.ColumnInt(2) != 0;
  rules.shift = absl::Seconds(s.ColumnInt(3));
  rules.reserve = absl::Seconds(s.ColumnInt(4));
  return rules;
}

absl::Status PutSiteRules(WriteTx& tx, int64_t site_id, const SiteRules& rules,
                          const std::string& updated_by) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare("INSERT INTO site_rules (site_id, minimum_battery_percent, "
                      "checkout_duration_s, return_on_dock, shift_s, reserve_s, updated_us, "
                      "updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                      "ON CONFLICT (site_id) DO UPDATE SET minimum_battery_percent = ?2, "
                      "checkout_duration_s = ?3, return_on_dock = ?4, shift_s = ?5, "
                      "reserve_s = ?6, updated_us = ?7, updated_by = ?8"));
  s.Bind(1, site_id)
      .Bind(2, int64_t{rules.minimum_battery_percent})
      .Bind(3, absl::ToInt64Seconds(rules.checkout_duration))
      .Bind(4, int64_t{rules.return_on_dock ? 1 : 0})
      .Bind(5, absl::ToInt64Seconds(rules.shift))
      .Bind(6, absl::ToInt64Seconds(rules.reserve))
      .Bind(7, common::ToMicros(tx.now()))
      .Bind(8, updated_by);
  return s.Run();
}

absl::StatusOr<SiteRulesRecord> GetSiteRulesRecord(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT updated_us, updated_by FROM site_rules WHERE site_id = ?"));
  s.Bind(1, site_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  SiteRulesRecord record;
  if (row) {
    record.defaults = false;
    record.updated_us = s.ColumnInt(0);
    record.updated_by = s.ColumnText(1);
  }
  ASSIGN_OR_RETURN(record.rules, GetSiteRules(db, site_id));
  return record;
}

absl::StatusOr<int64_t> LatestAuditSeq(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT COALESCE(MAX(seq), 0) FROM audit_events"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : 0;
}

absl::StatusOr<bool> AuditActionsBetween(common::Database& db, int64_t after, int64_t through,
                                         const std::vector<std::string>& ignored) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT action FROM audit_events WHERE seq > ? AND seq <= ? "
                              "ORDER BY seq"));
  s.Bind(1, after).Bind(2, through);
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return false;
    const std::string action = s.ColumnText(0);
    if (std::find(ignored.begin(), ignored.end(), action) == ignored.end()) return true;
  }
}

absl::StatusOr<int64_t> ThinHealthReadings(WriteTx& tx, int64_t cutoff_us, int limit) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare(
          "DELETE FROM health_readings WHERE id IN ("
          " SELECT id FROM ("
          "  SELECT id, ROW_NUMBER() OVER w AS rn,"
          "   COUNT(*) OVER (PARTITION BY camera_id, device_us / 3600000000) AS n"
          "  FROM health_readings WHERE device_us < ?1"
          "  WINDOW w AS (PARTITION BY camera_id, device_us / 3600000000"
          "               ORDER BY device_us, camera_sequence))"
          " WHERE rn > 1 AND rn < n AND id NOT IN (SELECT health_reading_id FROM camera_status"
          "                                        WHERE health_reading_id IS NOT NULL)"
          " LIMIT ?2)"));
  s.Bind(1, cutoff_us).Bind(2, int64_t{limit});
  RETURN_IF_ERROR(s.Run());
  return static_cast<int64_t>(tx.db().Changes());
}

}  // namespace camfleet::storage
