#include "services/storage/report_repository.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

// Aliases name their table (cam = cameras, cst = camera_status, hrd = health_readings,
// asg/lasg = assignments, hld/lhld = holders, dck = docks, sit = sites, unt = rollout_units),
// the same in every statement, so that the joins below are written once.
constexpr char kSubtreeCte[] =
    "subtree(id) AS (SELECT ?1 UNION ALL "
    "SELECT s2.id FROM sites s2 JOIN subtree t ON s2.parent_id = t.id)";
// The unary + keeps SQLite from walking the site index and sorting: the state or time index
// hands rows back in page order, and the subtree test is cheap per row.
constexpr char kInSubtree[] = " AND +cam.site_id IN (SELECT id FROM subtree)";

// A statement to run and how to bind it.
struct Query {
  std::string sql;
  std::function<void(common::Statement&)> bind;
};

std::string TimeCell(int64_t us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(us), absl::UTCTimeZone());
}
std::string OptionalTimeCell(const common::Statement& s, int col) {
  return s.ColumnIsNull(col) ? "" : TimeCell(s.ColumnInt(col));
}
std::string IntCell(const common::Statement& s, int col) {
  return s.ColumnIsNull(col) ? "" : absl::StrCat(s.ColumnInt(col));
}
// A slot number, empty for none (0 or NULL).
std::string SlotCell(const common::Statement& s, int col) {
  return s.ColumnIsNull(col) || s.ColumnInt(col) == 0 ? "" : absl::StrCat(s.ColumnInt(col));
}
std::string SecondsSince(int64_t now_us, int64_t then_us) {
  return absl::StrCat(std::max<int64_t>(0, (now_us - then_us) / 1000000));
}

v1::ReportColumn Col(const char* name, v1::ReportColumnType type) {
  v1::ReportColumn c;
  c.set_name(name);
  c.set_type(type);
  return c;
}

constexpr v1::ReportColumnType kText = v1::REPORT_COLUMN_TYPE_TEXT;
constexpr v1::ReportColumnType kInt = v1::REPORT_COLUMN_TYPE_INTEGER;
constexpr v1::ReportColumnType kTime = v1::REPORT_COLUMN_TYPE_TIME;
constexpr v1::ReportColumnType kSeconds = v1::REPORT_COLUMN_TYPE_SECONDS;

std::string With(const std::vector<std::string>& ctes) {
  return ctes.empty() ? "" : absl::StrCat("WITH RECURSIVE ", absl::StrJoin(ctes, ", "), " ");
}

absl::Status BadCursor() {
  return absl::InvalidArgumentError("page_token does not hold a valid position");
}

// "<int>/<int>" as written by the time-ordered reports.
absl::StatusOr<std::pair<int64_t, int64_t>> PairCursor(const std::string& cursor) {
  if (cursor.empty()) return std::make_pair(std::numeric_limits<int64_t>::min(), int64_t{0});
  std::vector<std::string> parts = absl::StrSplit(cursor, '/');
  std::pair<int64_t, int64_t> out;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &out.first) ||
      !absl::SimpleAtoi(parts[1], &out.second)) {
    return BadCursor();
  }
  return out;
}

// Steps `s` for up to `limit` rows (the statement asks for limit + 1); the cursor of the last
// row kept becomes next_cursor when one more row exists.
template <typename RowFn, typename KeyFn>
absl::StatusOr<ReportPage> CollectPage(common::Statement& s, int limit, RowFn row_fn,
                                       KeyFn key_fn) {
  ReportPage page;
  std::string last_key;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return page;
    if (static_cast<int>(page.rows.size()) == limit) {
      page.next_cursor = last_key;
      return page;
    }
    page.rows.push_back(row_fn(s));
    last_key = key_fn(s);
  }
}

// ---- the joins the reports share, from a camera `cam` (each ends with a space) ----
// Its site: sit.
constexpr char kJoinSite[] = "JOIN sites sit ON sit.id = cam.site_id ";
// Its status row (cst: last slot, battery health, newest reading; NULL before any), then the
// dock it was last seen in (dck, from cst).
constexpr char kJoinStatus[] = "LEFT JOIN camera_status cst ON cst.camera_id = cam.id ";
constexpr char kJoinDockOfStatus[] = "LEFT JOIN docks dck ON dck.id = cst.last_dock_id ";
// Its open assignment (asg) and that holder (hld); NULL when it is not issued.
constexpr char kJoinOpenHolder[] =
    "LEFT JOIN assignments asg ON asg.camera_id = cam.id AND asg.returned_us IS NULL "
    "LEFT JOIN holders hld ON hld.id = asg.holder_id ";
// Its latest assignment, open or returned (lasg), and that holder (lhld); NULL when never issued.
constexpr char kJoinLastHolder[] =
    "LEFT JOIN assignments lasg ON lasg.id = "
    "(SELECT MAX(asg2.id) FROM assignments asg2 WHERE asg2.camera_id = cam.id) "
    "LEFT JOIN holders lhld ON lhld.id = lasg.holder_id ";

// ---- cameras of one state (LOST, FAULTY), in serial order ----
Query StateQuery(const char* state, const ReportQuery& q) {
  std::vector<std::string> ctes;
  if (q.site_id.has_value()) ctes.emplace_back(kSubtreeCte);
  std::string sql =
      absl::StrCat(With(ctes),
                   "SELECT cam.serial, cam.model, sit.code, cam.updated_us, lhld.badge, lhld.name, "
                   "dck.dock_id, cst.last_slot, cam.last_seen_us, cam.state_note FROM cameras cam ",
                   kJoinSite, kJoinLastHolder, kJoinStatus, kJoinDockOfStatus,
                   "WHERE cam.state = ?4 AND cam.serial > ?2", q.site_id ? kInSubtree : "",
                   " ORDER BY cam.serial LIMIT ?3");
  return {sql, [q, state](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(2, q.cursor).Bind(3, int64_t{q.limit} + 1);
            s.Bind(4, state);
          }};
}

// ---- OVERDUE: open assignments by due time ----
Query OverdueQuery(const ReportQuery& q, std::pair<int64_t, int64_t> after) {
  std::vector<std::string> ctes;
  if (q.site_id.has_value()) ctes.emplace_back(kSubtreeCte);
  std::string sql = absl::StrCat(
      With(ctes),
      "SELECT cam.serial, sit.code, hld.badge, hld.name, asg.issued_us, asg.issued_by, "
      "asg.due_us, asg.id, cam.state "
      "FROM assignments asg JOIN cameras cam ON cam.id = asg.camera_id ",
      kJoinSite,
      "JOIN holders hld ON hld.id = asg.holder_id "
      "WHERE asg.returned_us IS NULL AND asg.due_us < ?2 "
      "AND (asg.due_us > ?5 OR (asg.due_us = ?5 AND asg.id > ?6))",
      q.site_id ? kInSubtree : "", " ORDER BY asg.due_us, asg.id LIMIT ?3");
  return {sql, [q, after](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(2, q.now_us).Bind(3, int64_t{q.limit} + 1);
            s.Bind(5, after.first).Bind(6, after.second);
          }};
}

// ---- WORN_BATTERY: low health or many cycles in the newest reading ----
Query WornQuery(const ReportQuery& q) {
  std::vector<std::string> ctes;
  if (q.site_id.has_value()) ctes.emplace_back(kSubtreeCte);
  // Both halves read an index over the worn range only; the newest reading is the one
  // camera_status points at (older readings of the same camera are skipped by the join).
  ctes.emplace_back(
      "worn(camera_id) AS ("
      "SELECT cst2.camera_id FROM camera_status cst2 WHERE cst2.battery_health_pm < ?4 "
      "UNION "
      "SELECT hrd2.camera_id FROM health_readings hrd2 JOIN camera_status cst3 "
      "ON cst3.camera_id = hrd2.camera_id AND cst3.health_reading_id = hrd2.id "
      "WHERE hrd2.cycle_count > ?5)");
  // CROSS JOIN keeps the (small) worn set outside: SQLite must not walk every camera in serial
  // order to avoid sorting the page.
  std::string sql =
      absl::StrCat(With(ctes),
                   "SELECT cam.serial, cam.model, sit.code, cam.state, cst.battery_health_pm, "
                   "hrd.cycle_count, cst.health_device_us, dck.dock_id, cst.last_slot "
                   "FROM worn CROSS JOIN cameras cam ON cam.id = worn.camera_id ",
                   kJoinSite,
                   // Inner joins: a worn camera has a status row and a reading.
                   "JOIN camera_status cst ON cst.camera_id = cam.id "
                   "JOIN health_readings hrd ON hrd.id = cst.health_reading_id ",
                   kJoinDockOfStatus, "WHERE cam.serial > ?2 AND cam.state != 'RETIRED'",
                   q.site_id ? kInSubtree : "", " ORDER BY cam.serial LIMIT ?3");
  return {sql, [q](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(2, q.cursor).Bind(3, int64_t{q.limit} + 1);
            s.Bind(4, q.health_below_pm).Bind(5, q.cycles_above);
          }};
}

// ---- NOT_SEEN: by last seen, oldest first ----
Query NotSeenQuery(const ReportQuery& q, std::pair<int64_t, int64_t> after) {
  std::vector<std::string> ctes;
  if (q.site_id.has_value()) ctes.emplace_back(kSubtreeCte);
  std::string sql = absl::StrCat(
      With(ctes),
      "SELECT cam.serial, cam.model, sit.code, cam.state, cam.last_seen_us, dck.dock_id, "
      "cst.last_slot, hld.badge, cam.id FROM cameras cam ",
      kJoinSite, kJoinStatus, kJoinDockOfStatus, kJoinOpenHolder,
      "WHERE cam.last_seen_us < ?2 AND cam.state != 'RETIRED' "
      "AND (cam.last_seen_us > ?5 OR (cam.last_seen_us = ?5 AND cam.id > ?6))",
      q.site_id ? kInSubtree : "", " ORDER BY cam.last_seen_us, cam.id LIMIT ?3");
  return {sql, [q, after](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(2, q.seen_before_us).Bind(3, int64_t{q.limit} + 1);
            s.Bind(5, after.first).Bind(6, after.second);
          }};
}

// ---- FAILED_UPDATES: rollout units whose last attempt failed or rolled back ----
Query FailedUpdatesQuery(const ReportQuery& q, std::pair<int64_t, int64_t> after) {
  std::vector<std::string> ctes;
  if (q.site_id.has_value()) ctes.emplace_back(kSubtreeCte);
  std::string sql = absl::StrCat(
      With(ctes),
      "SELECT cam.serial, cam.model, sit.code, rol.id, rel.version, unt.state, unt.attempt, "
      "unt.last_error, unt.running_version, COALESCE(unt.finished_us, unt.updated_us), "
      "dck.dock_id, cst.last_slot, unt.camera_id "
      "FROM rollout_units unt JOIN rollouts rol ON rol.id = unt.rollout_id "
      "JOIN firmware_releases rel ON rel.id = rol.release_id "
      "JOIN cameras cam ON cam.id = unt.camera_id ",
      kJoinSite, kJoinStatus, kJoinDockOfStatus,
      "WHERE unt.state IN ('FAILED', 'ROLLED_BACK') AND (unt.rollout_id, unt.camera_id) > (?5, ?6)",
      q.site_id ? kInSubtree : "", " ORDER BY unt.rollout_id, unt.camera_id LIMIT ?3");
  return {sql, [q, after](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(3, int64_t{q.limit} + 1);
            s.Bind(5, after.first).Bind(6, after.second);
          }};
}

// ---- FLEET_SUMMARY: a page of sites, then a few index searches per site ----
Query SummarySitesQuery(const ReportQuery& q) {
  std::string sql = q.site_id.has_value()
                        ? absl::StrCat(With({kSubtreeCte}),
                                       "SELECT sit.id, sit.code, sit.name FROM sites sit "
                                       "WHERE sit.id IN (SELECT id FROM subtree) AND sit.code > ?2 "
                                       "ORDER BY sit.code LIMIT ?3")
                        : "SELECT sit.id, sit.code, sit.name FROM sites sit "
                          "WHERE ?1 IS NULL AND sit.code > ?2 ORDER BY sit.code LIMIT ?3";
  return {sql, [q](common::Statement& s) {
            s.BindOptional(1, q.site_id).Bind(2, q.cursor).Bind(3, int64_t{q.limit} + 1);
          }};
}
constexpr char kSummaryStates[] =
    "SELECT cam.state, COUNT(*) FROM cameras cam WHERE cam.site_id = ?1 GROUP BY cam.state";
std::string SummaryHealthSql() {
  return absl::StrCat(
      "SELECT COALESCE(SUM(cst.battery_health_pm IS NULL), 0), "
      "COALESCE(SUM(cst.battery_health_pm < 600), 0), "
      "COALESCE(SUM(cst.battery_health_pm >= 600 AND cst.battery_health_pm < 800), 0), "
      "COALESCE(SUM(cst.battery_health_pm >= 800), 0) FROM cameras cam ",
      kJoinStatus, "WHERE cam.site_id = ?1 AND cam.state != 'RETIRED'");
}
constexpr char kSummaryDocks[] =
    "SELECT COUNT(*), COALESCE(SUM(dck.last_contact_us >= ?2), 0) FROM docks dck "
    "WHERE dck.site_id = ?1 AND dck.revoked_us IS NULL";

absl::StatusOr<v1::ReportRow> SummaryRow(common::Database& db, int64_t site_id,
                                         const std::string& code, const std::string& name,
                                         int64_t now_us) {
  v1::ReportRow row;
  row.add_cells(code);
  row.add_cells(name);
  static constexpr const char* kStates[] = {"REGISTERED", "AVAILABLE", "ISSUED",
                                            "LOST",       "FAULTY",    "RETIRED"};
  int64_t counts[6] = {0, 0, 0, 0, 0, 0};
  {
    ASSIGN_OR_RETURN(common::Statement s, db.Prepare(kSummaryStates));
    s.Bind(1, site_id);
    while (true) {
      ASSIGN_OR_RETURN(bool more, s.Step());
      if (!more) break;
      const std::string state = s.ColumnText(0);
      for (int i = 0; i < 6; ++i) {
        if (state == kStates[i]) counts[i] = s.ColumnInt(1);
      }
    }
  }
  for (int64_t n : counts) row.add_cells(absl::StrCat(n));
  {
    ASSIGN_OR_RETURN(common::Statement s, db.Prepare(SummaryHealthSql()));
    s.Bind(1, site_id);
    ASSIGN_OR_RETURN(bool more, s.Step());
    for (int i = 0; i < 4; ++i) row.add_cells(more ? IntCell(s, i) : "0");
  }
  {
    ASSIGN_OR_RETURN(common::Statement s, db.Prepare(kSummaryDocks));
    s.Bind(1, site_id).Bind(2, now_us - kDockOnlineWindowUs);
    ASSIGN_OR_RETURN(bool more, s.Step());
    for (int i = 0; i < 2; ++i) row.add_cells(more ? IntCell(s, i) : "0");
  }
  return row;
}

absl::StatusOr<ReportPage> RunSummary(common::Database& db, const ReportQuery& q) {
  Query sites = SummarySitesQuery(q);
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sites.sql));
  sites.bind(s);
  struct Site {
    int64_t id;
    std::string code;
    std::string name;
  };
  std::vector<Site> list;
  while (true) {
    ASSIGN_OR_RETURN(bool more, s.Step());
    if (!more) break;
    list.push_back({s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2)});
  }
  ReportPage page;
  if (static_cast<int>(list.size()) > q.limit) {
    list.pop_back();
    page.next_cursor = list.back().code;
  }
  for (const Site& site : list) {
    ASSIGN_OR_RETURN(v1::ReportRow row, SummaryRow(db, site.id, site.code, site.name, q.now_us));
    page.rows.push_back(std::move(row));
  }
  return page;
}

// The one statement of a report other than the fleet summary (RunSummary).
absl::StatusOr<Query> QueryFor(v1::ReportKind kind, const ReportQuery& q) {
  switch (kind) {
    case v1::REPORT_KIND_LOST:
      return StateQuery("LOST", q);
    case v1::REPORT_KIND_FAULTY:
      return StateQuery("FAULTY", q);
    case v1::REPORT_KIND_OVERDUE: {
      ASSIGN_OR_RETURN(auto after, PairCursor(q.cursor));
      return OverdueQuery(q, after);
    }
    case v1::REPORT_KIND_WORN_BATTERY:
      return WornQuery(q);
    case v1::REPORT_KIND_NOT_SEEN: {
      ASSIGN_OR_RETURN(auto after, PairCursor(q.cursor));
      return NotSeenQuery(q, after);
    }
    case v1::REPORT_KIND_FAILED_UPDATES: {
      ASSIGN_OR_RETURN(auto after, PairCursor(q.cursor));
      return FailedUpdatesQuery(q, after);
    }
    case v1::REPORT_KIND_FLEET_SUMMARY:
      return absl::InternalError("the fleet summary is run by RunSummary");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("report ", static_cast<int>(kind), " is not a ReportKind"));
  }
}

}  // namespace

const std::vector<v1::ReportColumn>& ReportColumns(v1::ReportKind kind) {
  static const auto* const kColumns = [] {
    auto* m = new std::vector<std::vector<v1::ReportColumn>>(v1::ReportKind_ARRAYSIZE);
    (*m)[v1::REPORT_KIND_LOST] = {Col("serial", kText),
                                  Col("model", kText),
                                  Col("site", kText),
                                  Col("lost_since", kTime),
                                  Col("last_holder_badge", kText),
                                  Col("last_holder_name", kText),
                                  Col("last_dock", kText),
                                  Col("last_slot", kInt),
                                  Col("last_seen", kTime),
                                  Col("note", kText)};
    (*m)[v1::REPORT_KIND_FAULTY] = {Col("serial", kText),
                                    Col("model", kText),
                                    Col("site", kText),
                                    Col("faulty_since", kTime),
                                    Col("faulty_for_seconds", kSeconds),
                                    Col("note", kText),
                                    Col("last_holder_badge", kText),
                                    Col("last_dock", kText),
                                    Col("last_slot", kInt),
                                    Col("last_seen", kTime)};
    (*m)[v1::REPORT_KIND_OVERDUE] = {
        Col("serial", kText),       Col("site", kText),        Col("state", kText),
        Col("holder_badge", kText), Col("holder_name", kText), Col("issued_at", kTime),
        Col("issued_by", kText),    Col("due_back", kTime),    Col("overdue_seconds", kSeconds)};
    (*m)[v1::REPORT_KIND_WORN_BATTERY] = {Col("serial", kText),
                                          Col("model", kText),
                                          Col("site", kText),
                                          Col("state", kText),
                                          Col("battery_health_percent", kInt),
                                          Col("cycle_count", kInt),
                                          Col("reading_time", kTime),
                                          Col("last_dock", kText),
                                          Col("last_slot", kInt)};
    (*m)[v1::REPORT_KIND_NOT_SEEN] = {
        Col("serial", kText),    Col("model", kText),     Col("site", kText),
        Col("state", kText),     Col("last_seen", kTime), Col("not_seen_seconds", kSeconds),
        Col("last_dock", kText), Col("last_slot", kInt),  Col("holder_badge", kText)};
    (*m)[v1::REPORT_KIND_FAILED_UPDATES] = {
        Col("serial", kText),    Col("model", kText),      Col("site", kText),
        Col("rollout", kText),   Col("release", kText),    Col("state", kText),
        Col("attempt", kInt),    Col("last_error", kText), Col("running_version", kText),
        Col("failed_at", kTime), Col("last_dock", kText),  Col("last_slot", kInt)};
    (*m)[v1::REPORT_KIND_FLEET_SUMMARY] = {Col("site", kText),
                                           Col("name", kText),
                                           Col("registered", kInt),
                                           Col("available", kInt),
                                           Col("issued", kInt),
                                           Col("lost", kInt),
                                           Col("faulty", kInt),
                                           Col("retired", kInt),
                                           Col("battery_unknown", kInt),
                                           Col("battery_below_60", kInt),
                                           Col("battery_60_to_79", kInt),
                                           Col("battery_80_up", kInt),
                                           Col("docks", kInt),
                                           Col("docks_online", kInt)};
    return m;
  }();
  static const std::vector<v1::ReportColumn> kNone;
  if (!v1::ReportKind_IsValid(kind)) return kNone;
  return (*kColumns)[static_cast<size_t>(kind)];
}

absl::StatusOr<ReportPage> RunReportQuery(common::Database& db, v1::ReportKind kind,
                                          const ReportQuery& q) {
  if (kind == v1::REPORT_KIND_FLEET_SUMMARY) return RunSummary(db, q);
  ASSIGN_OR_RETURN(Query query, QueryFor(kind, q));
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(query.sql));
  query.bind(s);
  const int64_t now = q.now_us;
  auto serial_key = [](const common::Statement& st) { return st.ColumnText(0); };
  switch (kind) {
    case v1::REPORT_KIND_LOST:
      return CollectPage(
          s, q.limit,
          [](const common::Statement& st) {
            v1::ReportRow r;
            r.add_cells(st.ColumnText(0));
            r.add_cells(st.ColumnText(1));
            r.add_cells(st.ColumnText(2));
            r.add_cells(TimeCell(st.ColumnInt(3)));
            r.add_cells(st.ColumnText(4));
            r.add_cells(st.ColumnText(5));
            r.add_cells(st.ColumnText(6));
            r.add_cells(SlotCell(st, 7));
            r.add_cells(OptionalTimeCell(st, 8));
            r.add_cells(st.ColumnText(9));
            return r;
          },
          serial_key);
    case v1::REPORT_KIND_FAULTY:
      return CollectPage(
          s, q.limit,
          [now](const common::Statement& st) {
            v1::ReportRow r;
            r.add_cells(st.ColumnText(0));
            r.add_cells(st.ColumnText(1));
            r.add_cells(st.ColumnText(2));
            r.add_cells(TimeCell(st.ColumnInt(3)));
            r.add_cells(SecondsSince(now, st.ColumnInt(3)));
            r.add_cells(st.ColumnText(9));
            r.add_cells(st.ColumnText(4));
            r.add_cells(st.ColumnText(6));
            r.add_cells(SlotCell(st, 7));
            r.add_cells(OptionalTimeCell(st, 8));
            return r;
          },
          serial_key);
    case v1::REPORT_KIND_OVERDUE:
      return CollectPage(
          s, q.limit,
          [now](const common::Statement& st) {
            v1::ReportRow r;
            r.add_cells(st.ColumnText(0));
            r.add_cells(st.ColumnText(1));
            // A lost camera stays with its holder until found, so it is overdue too: the state
            // tells it apart.
            r.add_cells(st.ColumnText(8));
            r.add_cells(st.ColumnText(2));
            r.add_cells(st.ColumnText(3));
            r.add_cells(TimeCell(st.ColumnInt(4)));
            r.add_cells(st.ColumnText(5));
            r.add_cells(TimeCell(st.ColumnInt(6)));
            r.add_cells(SecondsSince(now, st.ColumnInt(6)));
            return r;
          },
          [](const common::Statement& st) {
            return absl::StrCat(st.ColumnInt(6), "/", st.ColumnInt(7));
          });
    case v1::REPORT_KIND_FAILED_UPDATES:
      return CollectPage(
          s, q.limit,
          [](const common::Statement& st) {
            v1::ReportRow r;
            for (int i = 0; i < 3; ++i) r.add_cells(st.ColumnText(i));
            r.add_cells(absl::StrCat(st.ColumnInt(3)));
            for (int i = 4; i < 6; ++i) r.add_cells(st.ColumnText(i));
            r.add_cells(IntCell(st, 6));
            r.add_cells(st.ColumnText(7));
            r.add_cells(st.ColumnText(8));
            r.add_cells(TimeCell(st.ColumnInt(9)));
            r.add_cells(st.ColumnText(10));
            r.add_cells(SlotCell(st, 11));
            return r;
          },
          [](const common::Statement& st) {
            return absl::StrCat(st.ColumnInt(3), "/", st.ColumnInt(12));
          });
    case v1::REPORT_KIND_WORN_BATTERY:
      return CollectPage(
          s, q.limit,
          [](const common::Statement& st) {
            v1::ReportRow r;
            for (int i = 0; i < 4; ++i) r.add_cells(st.ColumnText(i));
            // Per mille to percent, rounded down as GetCamera does (79.9 % is below 80 %).
            r.add_cells(st.ColumnIsNull(4) ? "" : absl::StrCat(st.ColumnInt(4) / 10));
            r.add_cells(IntCell(st, 5));
            r.add_cells(OptionalTimeCell(st, 6));
            r.add_cells(st.ColumnText(7));
            r.add_cells(SlotCell(st, 8));
            return r;
          },
          serial_key);
    case v1::REPORT_KIND_NOT_SEEN:
      return CollectPage(
          s, q.limit,
          [now](const common::Statement& st) {
            v1::ReportRow r;
            for (int i = 0; i < 4; ++i) r.add_cells(st.ColumnText(i));
            r.add_cells(TimeCell(st.ColumnInt(4)));
            r.add_cells(SecondsSince(now, st.ColumnInt(4)));
            r.add_cells(st.ColumnText(5));
            r.add_cells(SlotCell(st, 6));
            r.add_cells(st.ColumnText(7));
            return r;
          },
          [](const common::Statement& st) {
            return absl::StrCat(st.ColumnInt(4), "/", st.ColumnInt(8));
          });
    default:
      return absl::InternalError("report without a row reader");
  }
}

namespace {

// ---- stock check ----
std::string StockSql() {
  return absl::StrCat(
      "SELECT cam.serial, cam.model, cam.state, cam.last_seen_us, dck.dock_id, dck.site_id, "
      "cst.last_slot, hld.badge, hld.name, asg.due_us, lhld.badge, lhld.name FROM cameras cam ",
      kJoinStatus, kJoinDockOfStatus, kJoinOpenHolder, kJoinLastHolder,
      "WHERE cam.site_id = ?1 AND cam.state IN ('REGISTERED', 'AVAILABLE', 'ISSUED', 'FAULTY') "
      "ORDER BY cam.serial");
}

v1::CameraState StateFromStored(const std::string& name) {
  v1::CameraState state = v1::CAMERA_STATE_UNSPECIFIED;
  v1::CameraState_Parse(absl::StrCat("CAMERA_STATE_", name), &state);
  return state;
}

}  // namespace

absl::StatusOr<v1::StockCheck> ComputeStockCheck(common::Database& db, const StockCheckQuery& q) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(StockSql()));
  s.Bind(1, q.site_id);
  v1::StockCheck check;
  check.set_site_code(q.site_code);
  check.set_hours(static_cast<uint32_t>(q.hours));
  *check.mutable_check_time() = MicrosToTimestamp(q.now_us);
  const int64_t cutoff = q.now_us - int64_t{q.hours} * 3600 * 1000 * 1000;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    v1::StockUnit unit;
    unit.set_serial(s.ColumnText(0));
    unit.set_model(s.ColumnText(1));
    unit.set_state(StateFromStored(s.ColumnText(2)));
    if (!s.ColumnIsNull(3)) *unit.mutable_last_seen_time() = MicrosToTimestamp(s.ColumnInt(3));
    unit.set_last_dock_id(s.ColumnText(4));
    unit.set_last_slot(static_cast<uint32_t>(s.ColumnIsNull(6) ? 0 : s.ColumnInt(6)));
    const bool issued = !s.ColumnIsNull(9);
    if (issued) {
      unit.set_holder_badge(s.ColumnText(7));
      unit.set_holder_name(s.ColumnText(8));
      *unit.mutable_due_back_time() = MicrosToTimestamp(s.ColumnInt(9));
    } else {
      unit.set_holder_badge(s.ColumnText(10));
      unit.set_holder_name(s.ColumnText(11));
    }
    const bool seen = !s.ColumnIsNull(3) && s.ColumnInt(3) >= cutoff && !s.ColumnIsNull(5) &&
                      s.ColumnInt(5) == q.site_id;
    *check.add_expected() = unit;
    if (seen) *check.add_seen() = unit;
    if (issued) *check.add_issued() = unit;
    if (!seen && !issued) *check.add_missing() = std::move(unit);
  }
  return check;
}

absl::StatusOr<v1::StockCheckRecord> InsertStockCheck(WriteTx& tx, int64_t site_id,
                                                      const v1::StockCheck& check,
                                                      const std::string& by,
                                                      const std::string& note) {
  std::vector<std::string> missing;
  for (const v1::StockUnit& u : check.missing()) missing.push_back(u.serial());
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO stock_checks (site_id, checked_us, checked_by, "
                                   "window_hours, expected_count, seen_count, issued_count, "
                                   "missing_count, missing_serials, note) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, site_id)
      .Bind(2, now)
      .Bind(3, by)
      .Bind(4, int64_t{check.hours()})
      .Bind(5, int64_t{check.expected_size()})
      .Bind(6, int64_t{check.seen_size()})
      .Bind(7, int64_t{check.issued_size()})
      .Bind(8, int64_t{check.missing_size()})
      .Bind(9, absl::StrJoin(missing, " "))
      .Bind(10, note);
  RETURN_IF_ERROR(s.Run());
  v1::StockCheckRecord record;
  record.set_id(tx.db().LastInsertRowId());
  record.set_site_code(check.site_code());
  *record.mutable_check_time() = MicrosToTimestamp(now);
  record.set_checked_by(by);
  record.set_hours(check.hours());
  record.set_expected_count(check.expected_size());
  record.set_seen_count(check.seen_size());
  record.set_issued_count(check.issued_size());
  record.set_missing_count(check.missing_size());
  for (std::string& serial : missing) record.add_missing_serials(std::move(serial));
  record.set_note(note);
  return record;
}

absl::StatusOr<std::vector<v1::StockCheckDue>> ListStockChecksDue(common::Database& db,
                                                                  std::optional<int64_t> root_id,
                                                                  int64_t now_us) {
  std::string sql = absl::StrCat(
      root_id.has_value() ? With({kSubtreeCte}) : "",
      "SELECT sit.code, sit.name, COALESCE(sci.interval_days, ?2), stc.checked_us, "
      "stc.checked_by FROM sites sit "
      "LEFT JOIN stock_check_intervals sci ON sci.site_id = sit.id "
      "LEFT JOIN stock_checks stc ON stc.id = (SELECT stc2.id FROM stock_checks stc2 "
      "WHERE stc2.site_id = sit.id ORDER BY stc2.checked_us DESC, stc2.id DESC LIMIT 1) ",
      root_id.has_value() ? "WHERE sit.id IN (SELECT id FROM subtree)" : "WHERE ?1 IS NULL");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  s.BindOptional(1, root_id).Bind(2, int64_t{kDefaultStockCheckIntervalDays});
  std::vector<std::pair<int64_t, v1::StockCheckDue>> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    v1::StockCheckDue due;
    due.set_site_code(s.ColumnText(0));
    due.set_site_name(s.ColumnText(1));
    const int64_t days = s.ColumnInt(2);
    due.set_interval_days(static_cast<uint32_t>(days));
    int64_t due_us = now_us;
    if (!s.ColumnIsNull(3)) {
      *due.mutable_last_check_time() = MicrosToTimestamp(s.ColumnInt(3));
      due.set_last_checked_by(s.ColumnText(4));
      due_us = s.ColumnInt(3) + days * 86400 * 1000 * 1000;
    }
    *due.mutable_due_time() = MicrosToTimestamp(due_us);
    due.set_overdue(due_us < now_us);
    rows.emplace_back(due_us, std::move(due));
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return a.second.site_code() < b.second.site_code();
  });
  std::vector<v1::StockCheckDue> out;
  out.reserve(rows.size());
  for (auto& [unused, due] : rows) out.push_back(std::move(due));
  return out;
}

absl::Status PutStockCheckInterval(WriteTx& tx, int64_t site_id, int days, const std::string& by) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO stock_check_intervals (site_id, interval_days, "
                                   "updated_us, updated_by) VALUES (?1, ?2, ?3, ?4) "
                                   "ON CONFLICT(site_id) DO UPDATE SET interval_days = ?2, "
                                   "updated_us = ?3, updated_by = ?4"));
  s.Bind(1, site_id).Bind(2, int64_t{days}).Bind(3, common::ToMicros(tx.now())).Bind(4, by);
  return s.Run();
}

absl::StatusOr<int> GetStockCheckInterval(common::Database& db, int64_t site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT interval_days FROM stock_check_intervals WHERE site_id = ?"));
  s.Bind(1, site_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<int>(s.ColumnInt(0)) : kDefaultStockCheckIntervalDays;
}

}  // namespace camfleet::storage
