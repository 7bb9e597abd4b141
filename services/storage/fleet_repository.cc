#include "services/storage/fleet_repository.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

constexpr char kSubtree[] =
    "WITH RECURSIVE subtree(id) AS (SELECT ?1 UNION ALL "
    "SELECT s.id FROM sites s JOIN subtree t ON s.parent_id = t.id) ";

v1::CameraState StateFromName(absl::string_view name) {
  for (int i = v1::CameraState_MIN; i <= v1::CameraState_MAX; ++i) {
    auto state = static_cast<v1::CameraState>(i);
    if (v1::CameraState_IsValid(i) && name == StateName(state)) return state;
  }
  return v1::CAMERA_STATE_UNSPECIFIED;
}

v1::ReturnCondition ConditionFromName(absl::string_view name) {
  if (name == "GOOD") return v1::RETURN_CONDITION_GOOD;
  if (name == "DAMAGED") return v1::RETURN_CONDITION_DAMAGED;
  if (name == "NOT_RETURNED") return v1::RETURN_CONDITION_NOT_RETURNED;
  return v1::RETURN_CONDITION_UNSPECIFIED;
}

// ---- sites ----
constexpr char kSelectSite[] =
    "SELECT s.id, s.code, s.name, COALESCE(p.code, ''), s.created_us "
    "FROM sites s LEFT JOIN sites p ON p.id = s.parent_id ";

v1::Site SiteFromRow(const common::Statement& s, int first) {
  v1::Site site;
  site.set_code(s.ColumnText(first));
  site.set_name(s.ColumnText(first + 1));
  site.set_parent_code(s.ColumnText(first + 2));
  *site.mutable_create_time() = MicrosToTimestamp(s.ColumnInt(first + 3));
  return site;
}

// ---- holders ----
constexpr char kSelectHolder[] =
    "SELECT h.id, h.badge, h.name, h.unit, s.code, h.created_us "
    "FROM holders h JOIN sites s ON s.id = h.home_site_id ";

v1::Holder HolderFromRow(const common::Statement& s, int first) {
  v1::Holder h;
  h.set_badge(s.ColumnText(first));
  h.set_name(s.ColumnText(first + 1));
  h.set_unit(s.ColumnText(first + 2));
  h.set_home_site_code(s.ColumnText(first + 3));
  *h.mutable_create_time() = MicrosToTimestamp(s.ColumnInt(first + 4));
  return h;
}

// ---- cameras ----
// A camera row is kCameraColumns, the table `cameras c` and kCameraJoins.
constexpr char kCameraColumns[] =
    "SELECT c.id, c.site_id, c.serial, c.model, c.hardware_revision, c.state, s.code, "
    "COALESCE(h.badge, ''), a.due_us, c.last_seen_us, c.created_us, c.updated_us, c.state_note, "
    "COALESCE(ld.dock_id, ''), COALESCE(cs.last_slot, 0), cs.health_device_us, "
    "cs.battery_percent, cs.battery_health_pm ";
constexpr char kCameraJoins[] =
    "JOIN sites s ON s.id = c.site_id "
    "LEFT JOIN assignments a ON a.camera_id = c.id AND a.returned_us IS NULL "
    "LEFT JOIN holders h ON h.id = a.holder_id "
    "LEFT JOIN camera_status cs ON cs.camera_id = c.id "
    "LEFT JOIN docks ld ON ld.id = cs.last_dock_id ";

std::string SelectCamera() { return absl::StrCat(kCameraColumns, "FROM cameras c ", kCameraJoins); }

v1::Camera CameraFromRow(const common::Statement& s) {
  v1::Camera c;
  c.set_serial(s.ColumnText(2));
  c.set_model(s.ColumnText(3));
  c.set_hardware_revision(s.ColumnText(4));
  c.set_state(StateFromName(s.ColumnText(5)));
  c.set_site_code(s.ColumnText(6));
  c.set_holder_badge(s.ColumnText(7));
  if (!s.ColumnIsNull(8)) *c.mutable_due_back_time() = MicrosToTimestamp(s.ColumnInt(8));
  if (!s.ColumnIsNull(9)) *c.mutable_last_seen_time() = MicrosToTimestamp(s.ColumnInt(9));
  *c.mutable_create_time() = MicrosToTimestamp(s.ColumnInt(10));
  *c.mutable_update_time() = MicrosToTimestamp(s.ColumnInt(11));
  c.set_state_note(s.ColumnText(12));
  c.set_last_dock_id(s.ColumnText(13));
  c.set_last_slot(static_cast<uint32_t>(s.ColumnInt(14)));
  if (!s.ColumnIsNull(15)) {
    v1::CameraHealth* health = c.mutable_latest_health();
    *health->mutable_device_time() = MicrosToTimestamp(s.ColumnInt(15));
    health->set_battery_percent(static_cast<uint32_t>(s.ColumnInt(16)));
    // Per mille to percent, rounded down: 79.9 % counts as 79, below the 80 % wear line.
    if (!s.ColumnIsNull(17)) {
      health->set_battery_health_percent(static_cast<uint32_t>(s.ColumnInt(17) / 10));
    }
  }
  return c;
}

// ---- assignments ----
constexpr char kSelectAssignment[] =
    "SELECT a.id, c.serial, h.badge, h.name, a.issued_us, a.issued_by, a.due_us, "
    "a.returned_us, COALESCE(a.returned_by, ''), COALESCE(a.return_condition, ''), "
    "a.issue_note, a.return_note, a.force_reason "
    "FROM assignments a JOIN cameras c ON c.id = a.camera_id "
    "JOIN holders h ON h.id = a.holder_id ";

v1::Assignment AssignmentFromRow(const common::Statement& s) {
  v1::Assignment a;
  a.set_id(s.ColumnInt(0));
  a.set_camera_serial(s.ColumnText(1));
  a.set_holder_badge(s.ColumnText(2));
  a.set_holder_name(s.ColumnText(3));
  *a.mutable_issue_time() = MicrosToTimestamp(s.ColumnInt(4));
  a.set_issued_by(s.ColumnText(5));
  *a.mutable_due_back_time() = MicrosToTimestamp(s.ColumnInt(6));
  if (!s.ColumnIsNull(7)) *a.mutable_return_time() = MicrosToTimestamp(s.ColumnInt(7));
  a.set_returned_by(s.ColumnText(8));
  a.set_return_condition(ConditionFromName(s.ColumnText(9)));
  a.set_issue_note(s.ColumnText(10));
  a.set_return_note(s.ColumnText(11));
  a.set_force_reason(s.ColumnText(12));
  return a;
}

}  // namespace

const char* StateName(v1::CameraState state) {
  // "CAMERA_STATE_AVAILABLE" -> "AVAILABLE": the stored names are the enum's without prefix.
  static constexpr size_t kPrefix = sizeof("CAMERA_STATE_") - 1;
  const std::string& name = v1::CameraState_Name(state);
  return name.size() > kPrefix ? name.c_str() + kPrefix : "UNSPECIFIED";
}

const char* ConditionName(v1::ReturnCondition condition) {
  switch (condition) {
    case v1::RETURN_CONDITION_GOOD: return "GOOD";
    case v1::RETURN_CONDITION_DAMAGED: return "DAMAGED";
    case v1::RETURN_CONDITION_NOT_RETURNED: return "NOT_RETURNED";
    default: return "UNSPECIFIED";
  }
}

absl::StatusOr<SiteRow> InsertSite(WriteTx& tx, const std::string& code, const std::string& name,
                                   std::optional<int64_t> parent_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO sites (code, name, parent_id, created_us) "
                                   "VALUES (?, ?, ?, ?)"));
  s.Bind(1, code).Bind(2, name).BindOptional(3, parent_id).Bind(4, common::ToMicros(tx.now()));
  RETURN_IF_ERROR(RunInsert(s, absl::StrCat("site '", code, "' already exists")));
  return FindSite(tx.db(), code);
}

absl::StatusOr<SiteRow> FindSite(common::Database& db, const std::string& code) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectSite, "WHERE s.code = ?")));
  s.Bind(1, code);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("site '", code, "' does not exist"));
  return SiteRow{s.ColumnInt(0), SiteFromRow(s, 1)};
}

absl::StatusOr<std::optional<int64_t>> FindSiteIdIfGiven(common::Database& db,
                                                         const std::string& code) {
  if (code.empty()) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(SiteRow site, FindSite(db, code));
  return std::optional<int64_t>(site.id);
}

absl::StatusOr<std::vector<v1::Site>> ListSites(common::Database& db,
                                                std::optional<int64_t> root_id,
                                                const std::string& after_code, int limit) {
  std::string sql =
      root_id.has_value()
          ? absl::StrCat(kSubtree, kSelectSite,
                         "WHERE s.id IN (SELECT id FROM subtree) AND s.id != ?1 "
                         "AND s.code > ?2 ORDER BY s.code LIMIT ?3")
          : absl::StrCat(kSelectSite, "WHERE ?1 IS NULL AND s.code > ?2 ORDER BY s.code LIMIT ?3");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  s.BindOptional(1, root_id).Bind(2, after_code).Bind(3, int64_t{limit});
  return CollectRows<v1::Site>(s, [](const common::Statement& st) { return SiteFromRow(st, 1); });
}

absl::StatusOr<HolderRow> InsertHolder(WriteTx& tx, const v1::Holder& holder,
                                       int64_t home_site_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO holders (badge, name, unit, home_site_id, "
                                   "created_us) VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, holder.badge())
      .Bind(2, holder.name())
      .Bind(3, holder.unit())
      .Bind(4, home_site_id)
      .Bind(5, common::ToMicros(tx.now()));
  RETURN_IF_ERROR(RunInsert(s, 
          absl::StrCat("holder with badge '", holder.badge(), "' already exists")));
  return FindHolder(tx.db(), holder.badge());
}

absl::StatusOr<HolderRow> FindHolder(common::Database& db, const std::string& badge) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectHolder, "WHERE h.badge = ?")));
  s.Bind(1, badge);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("holder with badge '", badge, "' does not exist"));
  }
  return HolderRow{s.ColumnInt(0), HolderFromRow(s, 1)};
}

absl::StatusOr<HolderRef> FindHolderRef(common::Database& db, const std::string& badge) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare("SELECT id, name FROM holders WHERE badge = ?"));
  s.Bind(1, badge);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("holder with badge '", badge, "' does not exist"));
  }
  return HolderRef{s.ColumnInt(0), s.ColumnText(1)};
}

absl::StatusOr<std::vector<v1::Holder>> ListHolders(common::Database& db,
                                                    std::optional<int64_t> site_id,
                                                    const std::string& after_badge, int limit) {
  std::string sql =
      site_id.has_value()
          ? absl::StrCat(kSubtree, kSelectHolder,
                         "WHERE h.home_site_id IN (SELECT id FROM subtree) AND h.badge > ?2 "
                         "ORDER BY h.badge LIMIT ?3")
          : absl::StrCat(kSelectHolder,
                         "WHERE ?1 IS NULL AND h.badge > ?2 ORDER BY h.badge LIMIT ?3");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  s.BindOptional(1, site_id).Bind(2, after_badge).Bind(3, int64_t{limit});
  return CollectRows<v1::Holder>(s, [](const common::Statement& st) { return HolderFromRow(st, 1); });
}

absl::StatusOr<CameraRow> InsertCamera(WriteTx& tx, const v1::Camera& camera, int64_t site_id) {
  {
    // A serial staged by a big import that is still running is reserved for it (the trigger
    // cameras_serial_not_staged refuses it too; this names the import).
    ASSIGN_OR_RETURN(common::Statement staged,
                     tx.db().Prepare("SELECT import_id FROM manifest_import_rows WHERE serial = ?"));
    staged.Bind(1, camera.serial());
    ASSIGN_OR_RETURN(bool row, staged.Step());
    if (row) {
      return absl::AlreadyExistsError(absl::StrCat(
          "camera '", camera.serial(), "' is being registered by manifest import ",
          staged.ColumnText(0), ", which is still running; see it with `camfleet camera get` "
          "once the import has finished"));
    }
  }
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO cameras (serial, model, hardware_revision, "
                                   "state, site_id, created_us, updated_us) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, camera.serial())
      .Bind(2, camera.model())
      .Bind(3, camera.hardware_revision())
      .Bind(4, StateName(camera.state()))
      .Bind(5, site_id)
      .Bind(6, now)
      .Bind(7, now);
  RETURN_IF_ERROR(RunInsert(s, 
          absl::StrCat("camera '", camera.serial(), "' is already registered")));
  return FindCamera(tx.db(), camera.serial());
}

absl::StatusOr<CameraRow> FindCamera(common::Database& db, const std::string& serial) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(SelectCamera(), "WHERE c.serial = ?")));
  s.Bind(1, serial);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("camera '", serial, "' is not registered"));
  return CameraRow{s.ColumnInt(0), s.ColumnInt(1), CameraFromRow(s)};
}

absl::StatusOr<CameraWithAssignment> FindCameraWithOpenAssignment(common::Database& db,
                                                                  const std::string& serial) {
  // The camera row already joins the open assignment (a) and its holder (h); their other
  // columns go after the camera's (0-17), so CameraFromRow reads the row unchanged.
  static const std::string* const kSql = new std::string(absl::StrCat(
      kCameraColumns, ", a.id, a.issued_us, a.issued_by, a.issue_note, a.force_reason, h.name ",
      "FROM cameras c ", kCameraJoins, "WHERE c.serial = ?"));
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(*kSql));
  s.Bind(1, serial);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("camera '", serial, "' is not registered"));
  CameraWithAssignment out{CameraRow{s.ColumnInt(0), s.ColumnInt(1), CameraFromRow(s)}, {}};
  if (!s.ColumnIsNull(18)) {
    v1::Assignment& a = out.open.emplace();
    a.set_id(s.ColumnInt(18));
    a.set_camera_serial(out.camera.camera.serial());
    a.set_holder_badge(out.camera.camera.holder_badge());
    a.set_holder_name(s.ColumnText(23));
    *a.mutable_issue_time() = MicrosToTimestamp(s.ColumnInt(19));
    a.set_issued_by(s.ColumnText(20));
    *a.mutable_due_back_time() = out.camera.camera.due_back_time();
    a.set_issue_note(s.ColumnText(21));
    a.set_force_reason(s.ColumnText(22));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ExistingSerials(common::Database& db,
                                                         const std::vector<std::string>& serials) {
  std::vector<std::string> found;
  for (const std::string& serial : serials) {
    // Prepare comes from the connection's cache, so this is one compiled statement reused.
    ASSIGN_OR_RETURN(common::Statement s, db.Prepare("SELECT 1 FROM cameras WHERE serial = ?"));
    s.Bind(1, serial);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) found.push_back(serial);
  }
  return found;
}

absl::Status UpdateCameraState(WriteTx& tx, int64_t camera_id, v1::CameraState state,
                               const std::string& note) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE cameras SET state = ?, state_note = ?, updated_us = ? "
                                   "WHERE id = ?"));
  s.Bind(1, StateName(state)).Bind(2, note).Bind(3, common::ToMicros(tx.now())).Bind(4, camera_id);
  return s.Run();
}

namespace {

constexpr char kSubtreeOf3[] =
    "WITH RECURSIVE subtree(id) AS (SELECT ?3 UNION ALL "
    "SELECT s2.id FROM sites s2 JOIN subtree t ON s2.parent_id = t.id) ";

// The camera list walked in serial order from the cursor (?1), each filter tested on the way,
// or driven by the index of an equality filter that keeps serial order (state, a post, model,
// holder). With `window_end`, the walk stops at that serial (?9).
absl::StatusOr<common::Statement> PrepareCameraListWalk(common::Database& db, const CameraFilter& f,
                                                        bool leaf, bool window_end) {
  std::vector<std::string> where = {"c.serial > ?1"};
  if (window_end) where.push_back("c.serial <= ?9");
  std::string prefix;
  if (f.state != v1::CAMERA_STATE_UNSPECIFIED) where.push_back("c.state = ?2");
  if (f.site_id.has_value()) {
    if (leaf) {
      // A leaf site (a post): the (site_id, state, serial) index hands back rows in page order.
      where.push_back("c.site_id = ?3");
    } else {
      // A subtree holds a good share of the fleet, so walking the serial index and keeping the
      // rows whose site is in it finds a page fastest; the unary + keeps SQLite from fetching
      // every camera of the subtree by site and sorting them.
      prefix = kSubtreeOf3;
      where.push_back("+c.site_id IN (SELECT id FROM subtree)");
    }
  }
  if (!f.model.empty()) where.push_back("c.model = ?4");
  if (f.holder_id.has_value()) where.push_back("a.holder_id = ?5");
  if (f.not_seen_since_us.has_value()) {
    where.push_back("(c.last_seen_us IS NULL OR c.last_seen_us < ?6)");
  }
  if (f.battery_below.has_value()) where.push_back("cs.battery_percent < ?8");
  return db.Prepare(absl::StrCat(prefix, SelectCamera(), "WHERE ", absl::StrJoin(where, " AND "),
                                 " ORDER BY c.serial LIMIT ?7"));
}

// The not-seen and low-battery lists found through their own indexes (cameras_by_last_seen,
// cameras_by_site_last_seen for a region, camera_status_by_battery): the cameras that match, from
// the cursor on, sorted by serial (LIMIT bounded: SQLite keeps only a page's worth), then the
// page's rows read. The cost grows with the cameras that match, not with the fleet. Unary + keeps
// SQLite from driving the search by serial, state or model instead.
absl::StatusOr<common::Statement> PrepareCameraListSeek(common::Database& db,
                                                        const CameraFilter& f) {
  std::vector<std::string> where;
  std::string from;
  if (f.battery_below.has_value()) {
    // CROSS JOIN: camera_status (seeking on the charge) is the outer loop.
    from = "FROM camera_status cs CROSS JOIN cameras c ON c.id = cs.camera_id ";
    where.push_back("cs.battery_percent < ?8");
    if (f.not_seen_since_us.has_value()) {
      where.push_back("(c.last_seen_us IS NULL OR c.last_seen_us < ?6)");
    }
  } else if (f.site_id.has_value()) {
    // Not seen, in a region: each of its posts' entries in cameras_by_site_last_seen (site,
    // last seen, serial), never seen (an equality on NULL, bounded by the cursor too) and seen
    // before the time, hold everything the page needs but state and model, so only the
    // region's matches are read, from the index alone, and sorted by serial.
    std::vector<std::string> also;
    if (f.state != v1::CAMERA_STATE_UNSPECIFIED) also.push_back(" AND +c.state = ?2");
    if (!f.model.empty()) also.push_back(" AND +c.model = ?4");
    const std::string rest = absl::StrJoin(also, "");
    const std::string sql = absl::StrCat(
        kSubtreeOf3, kCameraColumns,
        "FROM (SELECT id FROM (SELECT c.id AS id, c.serial AS serial FROM cameras c INDEXED BY "
        "cameras_by_site_last_seen WHERE c.site_id IN (SELECT id FROM subtree) AND "
        "c.last_seen_us IS NULL AND c.serial > ?1",
        rest,
        " UNION ALL SELECT c.id, c.serial FROM cameras c INDEXED BY cameras_by_site_last_seen "
        "WHERE c.site_id IN (SELECT id FROM subtree) AND c.last_seen_us < ?6 AND c.serial > ?1",
        rest, ") ORDER BY serial LIMIT ?7) AS page CROSS JOIN cameras c ON c.id = page.id ",
        kCameraJoins, "ORDER BY c.serial");
    return db.Prepare(sql);
  } else {
    from = "FROM cameras c ";
    where.push_back("(c.last_seen_us IS NULL OR c.last_seen_us < ?6)");
  }
  where.push_back("+c.serial > ?1");
  if (f.state != v1::CAMERA_STATE_UNSPECIFIED) where.push_back("+c.state = ?2");
  // Only a region comes here (a post's cameras are found by site).
  if (f.site_id.has_value()) where.push_back("+c.site_id IN (SELECT id FROM subtree)");
  if (!f.model.empty()) where.push_back("+c.model = ?4");
  const std::string sql = absl::StrCat(
      f.site_id.has_value() ? kSubtreeOf3 : "", kCameraColumns, "FROM (SELECT c.id AS id ", from,
      "WHERE ", absl::StrJoin(where, " AND "), " ORDER BY +c.serial LIMIT ?7) AS page ",
      "CROSS JOIN cameras c ON c.id = page.id ", kCameraJoins, "ORDER BY c.serial");
  return db.Prepare(sql);
}

void BindCameraFilter(common::Statement& s, const CameraFilter& f) {
  s.Bind(1, f.after_serial);
  if (f.state != v1::CAMERA_STATE_UNSPECIFIED) s.Bind(2, StateName(f.state));
  if (f.site_id.has_value()) s.Bind(3, *f.site_id);
  if (!f.model.empty()) s.Bind(4, f.model);
  if (f.holder_id.has_value()) s.Bind(5, *f.holder_id);
  if (f.not_seen_since_us.has_value()) s.Bind(6, *f.not_seen_since_us);
  if (f.battery_below.has_value()) s.Bind(8, *f.battery_below);
  s.Bind(7, int64_t{f.limit});
}

}  // namespace

absl::StatusOr<std::vector<v1::Camera>> ListCameras(common::Database& db, const CameraFilter& f) {
  // The statement is built from the filters that are set, so SQLite can pick the index that
  // fits (state, site, model, holder, last seen, charge); one cached statement per shape.
  bool leaf = false;
  if (f.site_id.has_value()) {
    ASSIGN_OR_RETURN(common::Statement children,
                     db.Prepare("SELECT EXISTS (SELECT 1 FROM sites WHERE parent_id = ?)"));
    children.Bind(1, *f.site_id);
    ASSIGN_OR_RETURN(bool row, children.Step());
    leaf = row && children.ColumnInt(0) == 0;
  }
  // A holder's few cameras, or a post's few hundred, are found from the holder or the post and
  // then filtered.
  const bool by_health = (f.not_seen_since_us.has_value() || f.battery_below.has_value()) &&
                         !f.holder_id.has_value() && !(f.site_id.has_value() && leaf);
  if (!by_health) {
    ASSIGN_OR_RETURN(common::Statement s, PrepareCameraListWalk(db, f, leaf, false));
    BindCameraFilter(s, f);
    return CollectRows<v1::Camera>(s, CameraFromRow);
  }
  // Not seen since, and battery below, match anything from almost every camera (a fleet whose
  // docks have not reported for an hour) to none (a charge nobody is below). Walking in serial
  // order finds a page at once when many match but reads the whole fleet when few do; seeking
  // on the filter's index costs what matches fleet-wide (about 25 times a walked camera each,
  // measured), which is the whole fleet when most do. So: walk the next `walk_window` cameras
  // after the cursor; if that fills the page (the filter is dense there) or reaches the end of
  // the fleet, that is the page; if not, fewer than a page matched in the window and the index
  // finds the page. The cost is bounded by the window or by what matches fleet-wide, not by
  // the fleet. (What this does not make cheap: a filter that many cameras match fleet-wide but
  // few in the window, e.g. not seen within one region, costs what matches fleet-wide.)
  ASSIGN_OR_RETURN(common::Statement end,
                   db.Prepare("SELECT serial FROM cameras WHERE serial > ?1 ORDER BY serial "
                              "LIMIT 1 OFFSET ?2"));
  end.Bind(1, f.after_serial).Bind(2, int64_t{std::max(f.walk_window, 1) - 1});
  ASSIGN_OR_RETURN(bool has_end, end.Step());
  const std::string window_end = has_end ? end.ColumnText(0) : std::string();
  ASSIGN_OR_RETURN(common::Statement walk, PrepareCameraListWalk(db, f, leaf, has_end));
  BindCameraFilter(walk, f);
  if (has_end) walk.Bind(9, window_end);
  ASSIGN_OR_RETURN(std::vector<v1::Camera> walked, CollectRows<v1::Camera>(walk, CameraFromRow));
  if (!has_end || static_cast<int>(walked.size()) >= f.limit) return walked;
  ASSIGN_OR_RETURN(common::Statement seek, PrepareCameraListSeek(db, f));
  BindCameraFilter(seek, f);
  return CollectRows<v1::Camera>(seek, CameraFromRow);
}

absl::StatusOr<int64_t> OpenAssignment(WriteTx& tx, const OpenAssignmentParams& p) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO assignments (camera_id, holder_id, issued_us, "
                                   "issued_by, due_us, issue_note, force_reason) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, p.camera_id)
      .Bind(2, p.holder_id)
      .Bind(3, common::ToMicros(tx.now()))
      .Bind(4, p.issued_by)
      .Bind(5, p.due_us)
      .Bind(6, p.note)
      .Bind(7, p.force_reason);
  RETURN_IF_ERROR(RunInsert(s, "the camera already has an open assignment"));
  return tx.db().LastInsertRowId();
}

absl::StatusOr<std::optional<v1::Assignment>> FindOpenAssignment(common::Database& db,
                                                                 int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectAssignment,
                                           "WHERE a.camera_id = ? AND a.returned_us IS NULL")));
  s.Bind(1, camera_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<v1::Assignment>();
  return std::optional<v1::Assignment>(AssignmentFromRow(s));
}

absl::StatusOr<v1::Assignment> GetAssignment(common::Database& db, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectAssignment, "WHERE a.id = ?")));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("assignment ", id, " does not exist"));
  return AssignmentFromRow(s);
}

absl::Status CloseAssignment(WriteTx& tx, int64_t id, const std::string& returned_by,
                             v1::ReturnCondition condition, const std::string& note) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE assignments SET returned_us = ?, returned_by = ?, "
                                   "return_condition = ?, return_note = ? "
                                   "WHERE id = ? AND returned_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now()))
      .Bind(2, returned_by)
      .Bind(3, ConditionName(condition))
      .Bind(4, note)
      .Bind(5, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("assignment ", id, " is not open"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Assignment>> ListCameraAssignments(common::Database& db,
                                                                  int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectAssignment,
                                           "WHERE a.camera_id = ? ORDER BY a.id")));
  s.Bind(1, camera_id);
  return CollectRows<v1::Assignment>(s, AssignmentFromRow);
}

absl::StatusOr<std::vector<v1::Assignment>> ListHolderOpenAssignments(common::Database& db,
                                                                      int64_t holder_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectAssignment,
                                           "WHERE a.holder_id = ? AND a.returned_us IS NULL "
                                           "ORDER BY a.id")));
  s.Bind(1, holder_id);
  return CollectRows<v1::Assignment>(s, AssignmentFromRow);
}

absl::StatusOr<std::vector<v1::Assignment>> ListOverdue(common::Database& db,
                                                        const OverdueFilter& f) {
  // The cursor is a seek on assignments_open_by_due (due_us, then id as its rowid): the page
  // starts at the cursor's due time instead of reading every overdue assignment before it.
  // A post (a leaf site) has a few hundred cameras: its overdue ones are found from its cameras
  // and sorted. A region holds a good share of the fleet: walking the overdue assignments in due
  // order and keeping its own finds a page at once (the unary + keeps SQLite from fetching every
  // camera of the region and sorting their assignments).
  bool leaf = false;
  if (f.site_id.has_value()) {
    ASSIGN_OR_RETURN(common::Statement children,
                     db.Prepare("SELECT EXISTS (SELECT 1 FROM sites WHERE parent_id = ?)"));
    children.Bind(1, *f.site_id);
    ASSIGN_OR_RETURN(bool row, children.Step());
    leaf = row && children.ColumnInt(0) == 0;
  }
  std::string sql = absl::StrCat(
      f.site_id.has_value() && !leaf ? kSubtree : "", kSelectAssignment,
      "WHERE a.returned_us IS NULL AND a.due_us < ?2 ",
      !f.site_id.has_value() ? ""
      : leaf                 ? "AND c.site_id = ?1 "
                             : "AND +c.site_id IN (SELECT id FROM subtree) ",
      f.after.has_value() ? "AND a.due_us >= ?3 AND (a.due_us > ?3 OR a.id > ?4) " : "",
      "ORDER BY a.due_us, a.id LIMIT ?5");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  if (f.site_id.has_value()) s.Bind(1, *f.site_id);
  s.Bind(2, f.now_us);
  if (f.after.has_value()) s.Bind(3, f.after->first).Bind(4, f.after->second);
  s.Bind(5, int64_t{f.limit});
  return CollectRows<v1::Assignment>(s, AssignmentFromRow);
}

absl::StatusOr<std::optional<std::string>> GetSetting(common::Database& db,
                                                      const std::string& key) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare("SELECT value FROM settings WHERE key = ?"));
  s.Bind(1, key);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.ColumnBlob(0));
}

absl::Status PutSetting(common::Database& db, const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("INSERT INTO settings (key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  s.Bind(1, key).BindBlob(2, value);
  return s.Run();
}

}  // namespace camfleet::storage
