// Every list query reads through an index, never a whole large table: each repository list
// function is run with each of its filters (and with a cursor for a deep page) against a real
// store built by the migrations, and SQLite's EXPLAIN QUERY PLAN for every statement it ran must
// have no "SCAN" of a large table. Where a filter has an index, the plan must also seek on it
// (a "SEARCH" by the cursor alone that tests the filter row by row reads the whole table just
// as well). The reports have their own plan test (tests/reports/report_plan_test.cc). Last, the
// overdue cursor that now seeks still pages through ties.

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "services/storage/alert_repository.h"
#include "services/storage/audit_log.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/health_repository.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"
#include "tests/testing/query_plan.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatementPlan;

// Tables that grow with the fleet or with time. Sites, docks, rollouts, releases and keys are
// counted in hundreds or thousands at most.
const std::set<std::string> kLargeTables = {
    "cameras",    "assignments",     "audit_events",   "alerts",           "conflicts",
    "holders",    "health_readings", "camera_status",  "certificates",     "rollout_units",
    "dock_slots", "stock_checks",    "rejected_items", "audit_late_events"};

struct ListCase {
  std::string name;
  std::function<absl::Status(common::Database&)> run;
  // A fragment the plan must contain: the index (and bound) that serves the filter. Empty where
  // the filter matches most rows, so that walking in list order finds a page at once.
  std::string must_seek;
  // A fragment no plan line may contain (an unbounded walk, for a filter that must not walk).
  std::string must_not = "";
};

class ListPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(SiteRow region, InsertSite(tx, "REGION", "Region", std::nullopt));
      ASSIGN_OR_RETURN(SiteRow post, InsertSite(tx, "POST-1", "Post", region.id));
      region_ = region.id;
      post_ = post.id;
      return absl::OkStatus();
    }),
                IsOk());
  }

  void ExpectSeeks(const std::vector<ListCase>& cases) {
    for (const ListCase& c : cases) {
      absl::StatusOr<std::vector<StatementPlan>> plans =
          testing::PlansOfStatementsRun(*store_, c.run);
      ASSERT_THAT(plans, IsOk()) << c.name;
      EXPECT_TRUE(testing::NoFullScans(*plans, kLargeTables)) << c.name;
      if (!c.must_seek.empty()) {
        EXPECT_TRUE(testing::HasStep(*plans, c.must_seek)) << c.name;
      }
      if (!c.must_not.empty()) {
        EXPECT_TRUE(testing::HasNoStep(*plans, c.must_not)) << c.name;
      }
    }
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  int64_t region_ = 0;
  int64_t post_ = 0;
};

TEST_F(ListPlanTest, TheCheckCatchesAFullScanUnderAnAlias) {
  absl::StatusOr<std::vector<StatementPlan>> plans =
      testing::PlansOfStatementsRun(*store_, [](common::Database& db) -> absl::Status {
        ASSIGN_OR_RETURN(common::Statement s,
                         db.Prepare("SELECT c.id FROM cameras AS c JOIN sites s "
                                    "ON s.id = c.site_id WHERE c.state_note = ''"));
        return s.Run();
      });
  ASSERT_THAT(plans, IsOk());
  ASSERT_THAT(*plans, ::testing::SizeIs(1));
  EXPECT_THAT(testing::FullScans((*plans)[0], kLargeTables), ::testing::SizeIs(1))
      << testing::Describe((*plans)[0]);
  EXPECT_FALSE(testing::NoFullScans(*plans, kLargeTables));
  EXPECT_TRUE(testing::NoFullScans(*plans, {"sites"}));
}

TEST_F(ListPlanTest, CameraListSeeksForEachFilter) {
  auto list = [](CameraFilter f) {
    return [f](common::Database& db) { return ListCameras(db, f).status(); };
  };
  // Twelve cameras after every cursor below, never seen and without a reading: with a walk
  // window of one camera, the not-seen and battery lists walk one camera, find less than a
  // page and seek on their index, so every statement is planned.
  ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
    for (int i = 1; i <= 12; ++i) {
      v1::Camera c;
      c.set_serial(absl::StrCat("CAM-", 9000 + i));
      c.set_model("BWC-7");
      c.set_state(v1::CAMERA_STATE_AVAILABLE);
      RETURN_IF_ERROR(InsertCamera(tx, c, post_).status());
    }
    return absl::OkStatus();
  }),
              IsOk());
  CameraFilter none;
  CameraFilter state;
  state.state = v1::CAMERA_STATE_ISSUED;
  CameraFilter post;
  post.site_id = post_;
  CameraFilter region;
  region.site_id = region_;
  CameraFilter model;
  model.model = "BWC-7";
  CameraFilter holder;
  holder.holder_id = 1;
  CameraFilter not_seen;
  not_seen.not_seen_since_us = 1;
  not_seen.walk_window = 1;
  CameraFilter not_seen_deep = not_seen;
  not_seen_deep.after_serial = "CAM-5000";
  CameraFilter not_seen_region = not_seen;
  not_seen_region.site_id = region_;
  not_seen_region.state = v1::CAMERA_STATE_AVAILABLE;
  not_seen_region.model = "BWC-7";
  CameraFilter not_seen_in_region = not_seen;
  not_seen_in_region.site_id = region_;
  CameraFilter not_seen_in_region_deep = not_seen_in_region;
  not_seen_in_region_deep.after_serial = "CAM-5000";
  CameraFilter not_seen_post = not_seen;
  not_seen_post.site_id = post_;
  CameraFilter not_seen_holder = not_seen;
  not_seen_holder.holder_id = 1;
  CameraFilter battery;
  battery.battery_below = 20;
  battery.walk_window = 1;
  CameraFilter battery_deep = battery;
  battery_deep.after_serial = "CAM-5000";
  battery_deep.state = v1::CAMERA_STATE_ISSUED;
  CameraFilter battery_not_seen = battery;
  battery_not_seen.not_seen_since_us = 1;
  battery_not_seen.site_id = region_;
  CameraFilter deep;
  deep.after_serial = "CAM-5000";
  // The walk of every camera from the cursor (the window bound adds "AND serial<?").
  const std::string kUnbounded = "SEARCH c USING INDEX sqlite_autoindex_cameras_1 (serial>?)";
  ExpectSeeks({
      {"cameras", list(none), "sqlite_autoindex_cameras_1 (serial>?)"},
      {"cameras by state", list(state), "cameras_by_state (state=? AND serial>?)"},
      {"cameras of a post", list(post), "(site_id=?"},
      // A region holds a good share of the fleet: its cameras are found walking by serial.
      {"cameras of a region", list(region), "sqlite_autoindex_cameras_1 (serial>?)"},
      {"cameras by model", list(model), "cameras_by_model (model=? AND serial>?)"},
      {"cameras of a holder", list(holder), "assignments_open_by_holder (holder_id=?)"},
      // Not seen since, and low battery: a walk of the serial index testing each camera reads
      // the whole fleet when few match, so the walk stops after a window of cameras (a bound
      // on serial), and if that did not fill the page the list seeks on the filter's own index
      // (and sorts what matches by serial), alone or with state, model or a region; a post or
      // a holder is still the better start.
      {"cameras not seen", list(not_seen), "cameras_by_last_seen (last_seen_us<?)", kUnbounded},
      {"cameras not seen, a deep page", list(not_seen_deep),
       "cameras_by_last_seen (last_seen_us<?)", kUnbounded},
      // In a region: only the region's entries of (site, last seen, serial), never a camera row
      // for each camera not seen fleet-wide (cameras_by_last_seen).
      {"cameras not seen in a region", list(not_seen_in_region),
       "COVERING INDEX cameras_by_site_last_seen (site_id=? AND last_seen_us<?)",
       "cameras_by_last_seen"},
      {"cameras not seen in a region, a deep page", list(not_seen_in_region_deep),
       "COVERING INDEX cameras_by_site_last_seen (site_id=? AND last_seen_us=? AND serial>?)",
       "cameras_by_last_seen"},
      {"cameras not seen in a region, by state and model", list(not_seen_region),
       "cameras_by_site_last_seen (site_id=? AND last_seen_us<?)", "cameras_by_last_seen"},
      {"cameras not seen at a post", list(not_seen_post), "(site_id=?"},
      {"cameras not seen of a holder", list(not_seen_holder),
       "assignments_open_by_holder (holder_id=?)"},
      {"cameras with low battery", list(battery), "camera_status_by_battery (battery_percent<?)",
       kUnbounded},
      {"cameras with low battery, issued, a deep page", list(battery_deep),
       "camera_status_by_battery (battery_percent<?)", kUnbounded},
      {"cameras with low battery not seen in a region", list(battery_not_seen),
       "camera_status_by_battery (battery_percent<?)", kUnbounded},
      {"cameras, a deep page", list(deep), "sqlite_autoindex_cameras_1 (serial>?)"},
  });
}

// The not-seen and battery filters must not be served by walking the cameras in serial order
// (a SEARCH on the serial index from the cursor that tests every row): such a walk reads the
// whole table when few cameras match, though it is no "SCAN". ExpectSeeks above asks for the
// filter's own index; this shows the check fails on the shape the list had before.
TEST_F(ListPlanTest, TheCheckCatchesTheSerialWalkForNotSeenAndBattery) {
  for (const char* filter :
       {"(c.last_seen_us IS NULL OR c.last_seen_us < 1)", "cs.battery_percent < 20"}) {
    absl::StatusOr<std::vector<StatementPlan>> plans =
        testing::PlansOfStatementsRun(*store_, [&](common::Database& db) -> absl::Status {
          ASSIGN_OR_RETURN(
              common::Statement s,
              db.Prepare(absl::StrCat("SELECT c.id FROM cameras c LEFT JOIN camera_status cs ON "
                                      "cs.camera_id = c.id WHERE c.serial > '' AND ",
                                      filter, " ORDER BY c.serial LIMIT 100")));
          return s.Run();
        });
    ASSERT_THAT(plans, IsOk());
    ASSERT_THAT(*plans, ::testing::SizeIs(1));
    EXPECT_FALSE(testing::HasStep(*plans, "cameras_by_last_seen (last_seen_us<?)"))
        << testing::Describe((*plans)[0]);
    EXPECT_FALSE(testing::HasStep(*plans, "camera_status_by_battery (battery_percent<?)"))
        << testing::Describe((*plans)[0]);
  }
}

// The not-seen and battery lists, whether a page comes from the walk of the window after the
// cursor or from the filter's index, give the same pages, in serial order from the cursor, as
// the filter applied to every camera would.
TEST_F(ListPlanTest, NotSeenAndBatteryListsPageInSerialOrder) {
  // 30 cameras at POST-1: camera i seen at i (0 and every fifth never), with a reading of
  // charge (i * 7) % 100 for every third one.
  ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
    for (int i = 0; i < 30; ++i) {
      v1::Camera c;
      // Serials not in insertion order, so that id order is not serial order.
      c.set_serial(absl::StrCat("CAM-", 1000 + (i * 17) % 30));
      c.set_model(i % 2 == 0 ? "BWC-7" : "BWC-9");
      c.set_state(v1::CAMERA_STATE_AVAILABLE);
      ASSIGN_OR_RETURN(CameraRow row, InsertCamera(tx, c, post_));
      if (i % 5 != 0) {
        ASSIGN_OR_RETURN(common::Statement seen,
                         tx.db().Prepare("UPDATE cameras SET last_seen_us = ? WHERE id = ?"));
        seen.Bind(1, int64_t{(i * 17) % 30}).Bind(2, row.id);
        RETURN_IF_ERROR(seen.Run());
      }
      if (i % 3 == 0) {
        ASSIGN_OR_RETURN(common::Statement status,
                         tx.db().Prepare("INSERT INTO camera_status (camera_id, battery_percent) "
                                         "VALUES (?, ?)"));
        status.Bind(1, row.id).Bind(2, int64_t{((i * 17) % 30) * 7 % 100});
        RETURN_IF_ERROR(status.Run());
      }
    }
    return absl::OkStatus();
  }),
              IsOk());
  // Camera CAM-(1000+k): seen at k unless k is a multiple of 5 (17 is invertible mod 30, and
  // i % 5 == 0 iff k % 5 == 0); a reading with charge k*7 % 100 iff k % 3 == 0.
  auto expected = [](const std::function<bool(int)>& match) {
    std::vector<std::string> out;
    for (int k = 0; k < 30; ++k) {
      if (match(k)) out.push_back(absl::StrCat("CAM-", 1000 + k));
    }
    return out;
  };
  int window = 0;
  auto walk = [&](CameraFilter f) {
    f.limit = 4;
    f.walk_window = window;
    std::vector<std::string> order;
    for (int page = 0; page < 20; ++page) {
      std::vector<v1::Camera> rows;
      EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
        ASSIGN_OR_RETURN(rows, ListCameras(db, f));
        return absl::OkStatus();
      }),
                  IsOk());
      for (const v1::Camera& c : rows) order.push_back(c.serial());
      if (static_cast<int>(rows.size()) < f.limit) break;
      f.after_serial = rows.back().serial();
    }
    return order;
  };
  // Windows that always seek, that sometimes fill the page, and that reach the end.
  for (int w : {1, 3, 6, 10'000}) {
    window = w;
    SCOPED_TRACE(absl::StrCat("walk window ", w));
    CameraFilter not_seen;
    not_seen.not_seen_since_us = 12;  // seen before 12, or never
    EXPECT_THAT(walk(not_seen),
                ::testing::ElementsAreArray(expected([](int k) { return k % 5 == 0 || k < 12; })));
    not_seen.site_id = region_;
    not_seen.model = "BWC-9";
    // i odd <=> k odd (17 is odd and 30 even).
    EXPECT_THAT(walk(not_seen), ::testing::ElementsAreArray(expected(
                                    [](int k) { return (k % 5 == 0 || k < 12) && k % 2 == 1; })));
    CameraFilter battery;
    battery.battery_below = 50;
    EXPECT_THAT(walk(battery), ::testing::ElementsAreArray(
                                   expected([](int k) { return k % 3 == 0 && k * 7 % 100 < 50; })));
    battery.not_seen_since_us = 20;
    EXPECT_THAT(walk(battery), ::testing::ElementsAreArray(expected([](int k) {
                  return k % 3 == 0 && k * 7 % 100 < 50 && (k % 5 == 0 || k < 20);
                })));
  }
}

TEST_F(ListPlanTest, AuditListSeeksForEachFilter) {
  auto list = [](AuditFilter f) {
    return [f](common::Database& db) { return ListAudit(db, f).status(); };
  };
  AuditFilter none;
  AuditFilter object;
  object.object_id = "CAM-0001";
  AuditFilter actor;
  actor.actor = "qm";
  AuditFilter action;
  action.action = "camera.issue";
  AuditFilter since;
  since.start_us = 1;
  AuditFilter until;
  until.end_us = 1;
  AuditFilter window;
  window.start_us = 1;
  window.end_us = 2;
  AuditFilter object_since;
  object_since.object_id = "CAM-0001";
  object_since.start_us = 1;
  AuditFilter object_actor = object;
  object_actor.actor = "qm";
  AuditFilter actor_action_window = window;
  actor_action_window.actor = "qm";
  actor_action_window.action = "camera.issue";
  AuditFilter deep;
  deep.after_seq = 500'000;
  ExpectSeeks({
      {"audit", list(none), "INTEGER PRIMARY KEY (rowid>?)"},
      {"audit of an object", list(object), "audit_by_object (object_id=? AND seq>?)"},
      {"audit of an actor", list(actor), "audit_by_actor (actor=? AND seq>?)"},
      {"audit of an action", list(action), "audit_by_action (action=? AND seq>?)"},
      // A time window (no late event in it): its first event is a seek on audit_by_time, its
      // last another, and the page is read by sequence between them; reading every event of
      // the window through audit_by_time and sorting it (what it did before, and still does
      // when the clock stepped back into the window) costs the window, not the page.
      {"audit since a time", list(since), "COVERING INDEX audit_by_time (time_us>?)",
       "TEMP B-TREE"},
      {"audit until a time", list(until), "INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
       "TEMP B-TREE"},
      {"audit in a window", list(window), "INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
       "TEMP B-TREE"},
      {"audit of an object since a time", list(object_since),
       "audit_by_object (object_id=? AND seq>?)"},
      // Two columns: SQLite seeks on one of their indexes and tests the other row by row.
      {"audit of an object by an actor", list(object_actor), "INDEX audit_by_"},
      {"audit of an actor's action in a window", list(actor_action_window), "INDEX audit_by_"},
      {"audit, a deep page", list(deep), "INTEGER PRIMARY KEY (rowid>?)"},
  });
}

// When the clock stepped back into a window, the window is read through audit_by_time (and
// sorted), still a seek: no statement reads the chain whole.
TEST_F(ListPlanTest, AuditListSeeksWhenTheClockSteppedBack) {
  const absl::Time t0 = clock_.Now();
  for (int offset : {10, 30, 20}) {
    clock_.Set(t0 + absl::Seconds(offset));
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return AppendAudit(tx, {"alice", "camera.issue", "camera", "CAM-1", "{}"}).status();
    }),
                IsOk());
  }
  auto list = [](AuditFilter f) {
    return [f](common::Database& db) { return ListAudit(db, f).status(); };
  };
  AuditFilter since;
  since.start_us = common::ToMicros(t0 + absl::Seconds(15));
  AuditFilter window = since;
  window.end_us = common::ToMicros(t0 + absl::Seconds(25));
  AuditFilter until;
  until.end_us = common::ToMicros(t0 + absl::Seconds(25));
  ExpectSeeks({
      {"audit since a time, stepped back", list(since), "audit_by_time (time_us>?)"},
      {"audit in a window, stepped back", list(window), "audit_by_time (time_us>? AND time_us<?)"},
      {"audit until a time, stepped back", list(until), "INTEGER PRIMARY KEY (rowid>?)"},
  });
}

TEST_F(ListPlanTest, OverdueListSeeksOnItsCursor) {
  auto list = [](OverdueFilter f) {
    return [f](common::Database& db) { return ListOverdue(db, f).status(); };
  };
  OverdueFilter first;
  first.now_us = 1'800'000'000'000'000;
  OverdueFilter deep = first;
  deep.after = std::make_pair(int64_t{1'700'000'000'000'000}, int64_t{42});
  OverdueFilter site = first;
  site.site_id = region_;
  OverdueFilter site_deep = deep;
  site_deep.site_id = region_;
  OverdueFilter post = first;
  post.site_id = post_;
  ExpectSeeks({
      {"overdue", list(first), "assignments_open_by_due (due_us<?)"},
      {"overdue, a deep page", list(deep), "assignments_open_by_due (due_us>? AND due_us<?)"},
      {"overdue of a region", list(site), "assignments_open_by_due (due_us<?)"},
      {"overdue of a region, a deep page", list(site_deep),
       "assignments_open_by_due (due_us>? AND due_us<?)"},
      // A post's few hundred cameras (from any index that starts with the site and holds the
      // camera's id: cameras_by_site or cameras_by_site_last_seen), then their open assignments.
      {"overdue of a post", list(post), "COVERING INDEX cameras_by_site"},
  });
}

TEST_F(ListPlanTest, AlertAndConflictListsSeekForEachFilter) {
  auto alerts = [](AlertFilter f) {
    return [f](common::Database& db) { return ListAlerts(db, f).status(); };
  };
  auto conflicts = [](ConflictFilter f) {
    return [f](common::Database& db) { return ListConflicts(db, f).status(); };
  };
  AlertFilter none;
  AlertFilter post;
  post.site_id = post_;
  AlertFilter region;
  region.site_id = region_;
  AlertFilter kind;
  kind.kind = v1::ALERT_KIND_WORN_BATTERY;
  AlertFilter dock;
  dock.kind = v1::ALERT_KIND_DOCK;
  AlertFilter open;
  open.acknowledged = v1::ALERT_ACKNOWLEDGED_FILTER_OPEN;
  AlertFilter acknowledged;
  acknowledged.acknowledged = v1::ALERT_ACKNOWLEDGED_FILTER_ACKNOWLEDGED;
  AlertFilter deep;
  deep.before_id = 500'000;
  ConflictFilter all_conflicts;
  ConflictFilter open_conflicts;
  open_conflicts.open_only = true;
  ConflictFilter site_conflicts;
  site_conflicts.site_id = post_;
  ExpectSeeks({
      {"alerts", alerts(none), "INTEGER PRIMARY KEY (rowid<?)"},
      {"alerts of a post", alerts(post), "alerts_by_site (site_id=? AND id<?)"},
      {"alerts of a region", alerts(region), "alerts_by_site (site_id=? AND id<?)"},
      {"alerts of a kind", alerts(kind), "alerts_by_kind (kind=? AND id<?)"},
      // Dock alerts and acknowledged ones are most alerts: newest first finds a page at once.
      {"dock alerts", alerts(dock), ""},
      {"open alerts", alerts(open), "alerts_open (id<?)"},
      {"acknowledged alerts", alerts(acknowledged), "INTEGER PRIMARY KEY (rowid<?)"},
      {"alerts, a deep page", alerts(deep), "INTEGER PRIMARY KEY (rowid<?)"},
      {"conflicts", conflicts(all_conflicts), "INTEGER PRIMARY KEY (rowid<?)"},
      {"open conflicts", conflicts(open_conflicts), "conflicts_open (id<?)"},
      {"conflicts of a site", conflicts(site_conflicts), "conflicts_by_site (site_id=? AND id<?)"},
  });
}

TEST_F(ListPlanTest, OtherListsSeek) {
  ExpectSeeks({
      {"sites", [](common::Database& db) { return ListSites(db, std::nullopt, "", 100).status(); },
       ""},
      {"holders of a region",
       [this](common::Database& db) { return ListHolders(db, region_, "", 100).status(); },
       "holders_by_site (home_site_id=?"},
      {"holders",
       [](common::Database& db) { return ListHolders(db, std::nullopt, "B-1", 100).status(); },
       "(badge>?)"},
      {"assignments of a camera",
       [](common::Database& db) { return ListCameraAssignments(db, 7).status(); },
       "assignments_by_camera (camera_id=?)"},
      {"open assignments of a holder",
       [](common::Database& db) { return ListHolderOpenAssignments(db, 7).status(); },
       "assignments_open_by_holder (holder_id=?)"},
      {"health readings of a camera",
       [](common::Database& db) { return ListHealthReadings(db, 7, std::nullopt, 100).status(); },
       "health_readings_by_camera (camera_id=?)"},
      {"health readings of a camera, a deep page",
       [](common::Database& db) {
         return ListHealthReadings(db, 7, HealthCursor{1'700'000'000'000'000, 9}, 100).status();
       },
       "health_readings_by_camera (camera_id=? AND device_us<?)"},
      {"cameras of a post for its docks",
       [this](common::Database& db) { return ListSiteCameras(db, post_).status(); }, "(site_id=?"},
      {"units of a rollout", [](common::Database& db) { return ListRolloutUnits(db, 3).status(); },
       "(rollout_id=?"},
  });
}

}  // namespace
}  // namespace camfleet::storage

namespace camfleet::storage {
namespace {

// The overdue list's cursor now seeks (due >= cursor, then the id breaks ties): paging must still
// give every overdue assignment once, most overdue first, when many are due at the same moment,
// for the fleet, for a region (the due-order walk) and for a post (the post's cameras).
TEST_F(ListPlanTest, OverdueCursorPagesThroughTiesForFleetRegionAndPost) {
  std::vector<std::string> expected;  // in (due, id) order
  ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(SiteRow other, InsertSite(tx, "POST-2", "Other post", std::nullopt));
    v1::Holder holder;
    holder.set_badge("B-1");
    holder.set_name("Officer");
    ASSIGN_OR_RETURN(HolderRow h, InsertHolder(tx, holder, post_));
    // Seven cameras due at 100, three at 200 (ties across page boundaries), and one at the other
    // post due at 150; one due in the future.
    const std::vector<int64_t> due = {200, 100, 100, 200, 100, 100, 100, 200, 100, 100, 5000};
    for (size_t i = 0; i < due.size(); ++i) {
      v1::Camera c;
      c.set_serial(absl::StrCat("CAM-", 1000 + i));
      c.set_model("BWC-7");
      c.set_state(v1::CAMERA_STATE_ISSUED);
      ASSIGN_OR_RETURN(CameraRow row, InsertCamera(tx, c, post_));
      RETURN_IF_ERROR(OpenAssignment(tx, {row.id, h.id, "qm", due[i], "", ""}).status());
    }
    v1::Camera c;
    c.set_serial("CAM-2000");
    c.set_model("BWC-7");
    c.set_state(v1::CAMERA_STATE_ISSUED);
    ASSIGN_OR_RETURN(CameraRow row, InsertCamera(tx, c, other.id));
    return OpenAssignment(tx, {row.id, h.id, "qm", 150, "", ""}).status();
  }),
              IsOk());
  auto walk = [&](std::optional<int64_t> site) {
    std::vector<std::string> order;
    OverdueFilter f;
    f.now_us = 1000;
    f.site_id = site;
    f.limit = 3;
    for (int page = 0; page < 20; ++page) {
      std::vector<v1::Assignment> rows;
      EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
        ASSIGN_OR_RETURN(rows, ListOverdue(db, f));
        return absl::OkStatus();
      }),
                  IsOk());
      for (const v1::Assignment& a : rows) order.push_back(a.camera_serial());
      if (static_cast<int>(rows.size()) < f.limit) break;
      f.after = std::make_pair(
          google::protobuf::util::TimeUtil::TimestampToMicroseconds(rows.back().due_back_time()),
          rows.back().id());
    }
    return order;
  };
  const std::vector<std::string> post = {"CAM-1001", "CAM-1002", "CAM-1004", "CAM-1005",
                                         "CAM-1006", "CAM-1008", "CAM-1009", "CAM-1000",
                                         "CAM-1003", "CAM-1007"};
  EXPECT_THAT(walk(post_), ::testing::ElementsAreArray(post));
  EXPECT_THAT(walk(region_), ::testing::ElementsAreArray(post));  // POST-1 is under REGION
  std::vector<std::string> fleet = post;
  fleet.insert(fleet.begin() + 7, "CAM-2000");
  EXPECT_THAT(walk(std::nullopt), ::testing::ElementsAreArray(fleet));
}

}  // namespace
}  // namespace camfleet::storage
