#include "services/storage/alert_repository.h"

#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

constexpr char kSubtree[] =
    "WITH RECURSIVE subtree(id) AS (SELECT ?1 UNION ALL "
    "SELECT s2.id FROM sites s2 JOIN subtree t ON s2.parent_id = t.id) ";

constexpr char kDockPrefix[] = "DOCK:";

absl::string_view StripEnumPrefix(const std::string& name, absl::string_view prefix) {
  absl::string_view v = name;
  absl::ConsumePrefix(&v, prefix);
  return v;
}

void KindFromName(absl::string_view name, v1::Alert& alert) {
  if (absl::ConsumePrefix(&name, kDockPrefix)) {
    alert.set_kind(v1::ALERT_KIND_DOCK);
    v1::DockAlertKind dock_kind;
    if (v1::DockAlertKind_Parse(absl::StrCat("DOCK_ALERT_KIND_", name), &dock_kind)) {
      alert.set_dock_alert_kind(dock_kind);
    }
    return;
  }
  v1::AlertKind kind;
  if (v1::AlertKind_Parse(absl::StrCat("ALERT_KIND_", name), &kind)) alert.set_kind(kind);
}

constexpr char kSelectAlert[] =
    "SELECT a.id, a.kind, s.code, COALESCE(d.dock_id, ''), COALESCE(a.slot, 0), a.serial, "
    "a.event_us, a.raised_us, a.message, a.acknowledged_us, COALESCE(a.acknowledged_by, '') "
    "FROM alerts a JOIN sites s ON s.id = a.site_id LEFT JOIN docks d ON d.id = a.dock_id ";

v1::Alert AlertFromRow(const common::Statement& s) {
  v1::Alert a;
  a.set_id(s.ColumnInt(0));
  KindFromName(s.ColumnText(1), a);
  a.set_site_code(s.ColumnText(2));
  a.set_dock_id(s.ColumnText(3));
  a.set_slot(static_cast<uint32_t>(s.ColumnInt(4)));
  a.set_serial(s.ColumnText(5));
  *a.mutable_event_time() = MicrosToTimestamp(s.ColumnInt(6));
  *a.mutable_raise_time() = MicrosToTimestamp(s.ColumnInt(7));
  a.set_message(s.ColumnText(8));
  if (!s.ColumnIsNull(9)) *a.mutable_acknowledge_time() = MicrosToTimestamp(s.ColumnInt(9));
  a.set_acknowledged_by(s.ColumnText(10));
  return a;
}

constexpr char kSelectConflict[] =
    "SELECT c.id, c.kind, s.code, COALESCE(d.dock_id, ''), c.serial, c.physical_fact, "
    "c.central_decision, c.event_us, c.raised_us, COALESCE(c.alert_id, 0), c.resolved_us, "
    "COALESCE(c.resolved_by, ''), c.resolution "
    "FROM conflicts c JOIN sites s ON s.id = c.site_id LEFT JOIN docks d ON d.id = c.dock_id ";

v1::Conflict ConflictFromRow(const common::Statement& s) {
  v1::Conflict c;
  c.set_id(s.ColumnInt(0));
  c.set_kind(s.ColumnText(1));
  c.set_site_code(s.ColumnText(2));
  c.set_dock_id(s.ColumnText(3));
  c.set_serial(s.ColumnText(4));
  c.set_physical_fact(s.ColumnText(5));
  c.set_central_decision(s.ColumnText(6));
  *c.mutable_event_time() = MicrosToTimestamp(s.ColumnInt(7));
  *c.mutable_raise_time() = MicrosToTimestamp(s.ColumnInt(8));
  c.set_alert_id(s.ColumnInt(9));
  if (!s.ColumnIsNull(10)) *c.mutable_resolve_time() = MicrosToTimestamp(s.ColumnInt(10));
  c.set_resolved_by(s.ColumnText(11));
  c.set_resolution(s.ColumnText(12));
  return c;
}

}  // namespace

std::string AlertKindName(v1::AlertKind kind, v1::DockAlertKind dock_kind) {
  if (kind == v1::ALERT_KIND_DOCK) {
    return absl::StrCat(kDockPrefix,
                        StripEnumPrefix(v1::DockAlertKind_Name(dock_kind), "DOCK_ALERT_KIND_"));
  }
  return std::string(StripEnumPrefix(v1::AlertKind_Name(kind), "ALERT_KIND_"));
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> CountOpenAlertsByKind(
    common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT kind, COUNT(*) FROM alerts WHERE acknowledged_us IS NULL "
                              "GROUP BY kind ORDER BY kind"));
  std::vector<std::pair<std::string, int64_t>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(s.ColumnText(0), s.ColumnInt(1));
  }
  return out;
}

absl::StatusOr<int64_t> InsertAlert(WriteTx& tx, const AlertRecord& r) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare("INSERT INTO alerts (kind, site_id, dock_id, slot, serial, "
                      "event_us, raised_us, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, AlertKindName(r.kind, r.dock_alert_kind))
      .Bind(2, r.site_id)
      .BindOptional(3, r.dock_id)
      .BindOptional(4, r.slot > 0 ? std::optional<int64_t>(r.slot) : std::nullopt)
      .Bind(5, r.serial)
      .Bind(6, r.event_us)
      .Bind(7, common::ToMicros(tx.now()))
      .Bind(8, r.message);
  RETURN_IF_ERROR(s.Run());
  return tx.db().LastInsertRowId();
}

absl::StatusOr<v1::Alert> GetAlert(common::Database& db, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectAlert, "WHERE a.id = ?")));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("alert ", id, " does not exist"));
  return AlertFromRow(s);
}

absl::Status AcknowledgeAlert(WriteTx& tx, int64_t id, const std::string& by) {
  ASSIGN_OR_RETURN(v1::Alert alert, GetAlert(tx.db(), id));
  if (alert.has_acknowledge_time()) {
    return absl::FailedPreconditionError(
        absl::StrCat("alert ", id, " was acknowledged already by ", alert.acknowledged_by()));
  }
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE alerts SET acknowledged_us = ?, acknowledged_by = ? "
                                   "WHERE id = ? AND acknowledged_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, by).Bind(3, id);
  return s.Run();
}

absl::StatusOr<std::vector<v1::Alert>> ListAlerts(common::Database& db, const AlertFilter& f) {
  // Only the filters given go into the SQL, each in a form an index serves (one cached statement
  // per shape): a kind seeks alerts_by_kind (kind, id), the open ones alerts_open, a site
  // alerts_by_site; the cursor is a seek on the id (no cursor: from the largest). The old
  // "(?2 = '' OR a.kind = ?2)" form could only read the whole table newest first.
  // Dock alerts (kinds "DOCK:...") and acknowledged alerts are most of the table, so walking it
  // newest first finds a page of them at once.
  std::string kind;
  if (f.kind != v1::ALERT_KIND_UNSPECIFIED) {
    kind = std::string(StripEnumPrefix(v1::AlertKind_Name(f.kind), "ALERT_KIND_"));
  }
  std::string sql =
      absl::StrCat(f.site_id.has_value() ? kSubtree : "", kSelectAlert, "WHERE a.id < ?4");
  if (f.site_id.has_value()) absl::StrAppend(&sql, " AND a.site_id IN (SELECT id FROM subtree)");
  if (kind == "DOCK") {
    absl::StrAppend(&sql, " AND a.kind >= 'DOCK:' AND a.kind < 'DOCK;'");
  } else if (!kind.empty()) {
    absl::StrAppend(&sql, " AND a.kind = ?2");
  }
  if (f.acknowledged == v1::ALERT_ACKNOWLEDGED_FILTER_OPEN) {
    absl::StrAppend(&sql, " AND a.acknowledged_us IS NULL");
  } else if (f.acknowledged == v1::ALERT_ACKNOWLEDGED_FILTER_ACKNOWLEDGED) {
    absl::StrAppend(&sql, " AND a.acknowledged_us IS NOT NULL");
  }
  absl::StrAppend(&sql, " ORDER BY a.id DESC LIMIT ?5");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  if (f.site_id.has_value()) s.Bind(1, *f.site_id);
  if (!kind.empty() && kind != "DOCK") s.Bind(2, kind);
  s.Bind(4, f.before_id > 0 ? f.before_id : std::numeric_limits<int64_t>::max())
      .Bind(5, int64_t{f.limit});
  return CollectRows<v1::Alert>(s, AlertFromRow);
}

absl::StatusOr<int64_t> InsertConflict(WriteTx& tx, const ConflictRecord& r) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO conflicts (kind, site_id, dock_id, serial, "
                                   "physical_fact, central_decision, event_us, raised_us, "
                                   "alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, r.kind)
      .Bind(2, r.site_id)
      .BindOptional(3, r.dock_id)
      .Bind(4, r.serial)
      .Bind(5, r.physical_fact)
      .Bind(6, r.central_decision)
      .Bind(7, r.event_us)
      .Bind(8, common::ToMicros(tx.now()))
      .BindOptional(9, r.alert_id > 0 ? std::optional<int64_t>(r.alert_id) : std::nullopt);
  RETURN_IF_ERROR(s.Run());
  return tx.db().LastInsertRowId();
}

absl::StatusOr<v1::Conflict> GetConflict(common::Database& db, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectConflict, "WHERE c.id = ?")));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("conflict ", id, " does not exist"));
  return ConflictFromRow(s);
}

absl::Status ResolveConflict(WriteTx& tx, int64_t id, const std::string& by,
                             const std::string& resolution) {
  ASSIGN_OR_RETURN(v1::Conflict conflict, GetConflict(tx.db(), id));
  if (conflict.has_resolve_time()) {
    return absl::FailedPreconditionError(
        absl::StrCat("conflict ", id, " was resolved already by ", conflict.resolved_by()));
  }
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE conflicts SET resolved_us = ?, resolved_by = ?, "
                                   "resolution = ? WHERE id = ? AND resolved_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, by).Bind(3, resolution).Bind(4, id);
  return s.Run();
}

absl::StatusOr<std::vector<v1::Conflict>> ListConflicts(common::Database& db,
                                                        const ConflictFilter& f) {
  // As ListAlerts: the filters given, each served by an index (conflicts_by_site, and the open
  // ones by conflicts_open), the cursor a seek on the id.
  std::string sql =
      absl::StrCat(f.site_id.has_value() ? kSubtree : "", kSelectConflict, "WHERE c.id < ?3",
                   f.site_id.has_value() ? " AND c.site_id IN (SELECT id FROM subtree)" : "",
                   f.open_only ? " AND c.resolved_us IS NULL" : "", " ORDER BY c.id DESC LIMIT ?4");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  if (f.site_id.has_value()) s.Bind(1, *f.site_id);
  s.Bind(3, f.before_id > 0 ? f.before_id : std::numeric_limits<int64_t>::max())
      .Bind(4, int64_t{f.limit});
  return CollectRows<v1::Conflict>(s, ConflictFromRow);
}

}  // namespace camfleet::storage
