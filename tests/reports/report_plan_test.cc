// Every report and the stock check read indexes, never a whole large table: SQLite's own
// EXPLAIN QUERY PLAN for every statement RunReportQuery and ComputeStockCheck run
// (tests/testing/query_plan.h), with and without a site filter, against a real store built by
// the migrations. A plan line "SCAN <table or its alias>" for one of kLargeTables fails the
// test (small CTEs like `subtree` or `worn` may be scanned), and so does a plan without the seek
// on the index that serves the report: a walk of the cameras in serial order that tests each
// one is a "SEARCH" (serial>?), yet it reads the whole table as well.

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/report_repository.h"
#include "services/storage/store.h"
#include "tests/testing/query_plan.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using testing::IsOk;
using testing::StatementPlan;

// Tables that grow with the fleet or with time.
const std::set<std::string> kLargeTables = {"cameras",      "camera_status", "health_readings",
                                            "assignments",  "holders",       "docks",
                                            "rollout_units"};

class ReportPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    // A region with a post under it, so the subtree form of every statement is the one planned
    // (and the fleet summary runs its statements for each site).
    std::optional<int64_t> region;
    ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(SiteRow r, InsertSite(tx, "REGION", "Region", std::nullopt));
      region = r.id;
      return InsertSite(tx, "POST-1", "Post", r.id).status();
    }),
                IsOk());
    region_ = *region;
  }

  std::vector<StatementPlan> Plans(absl::FunctionRef<absl::Status(common::Database&)> fn) {
    absl::StatusOr<std::vector<StatementPlan>> plans = testing::PlansOfStatementsRun(*store_, fn);
    EXPECT_THAT(plans, IsOk());
    return plans.ok() ? *std::move(plans) : std::vector<StatementPlan>();
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  int64_t region_ = 0;
};

TEST_F(ReportPlanTest, TheCheckCatchesAFullScan) {
  const std::vector<StatementPlan> plans = Plans([](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare("SELECT * FROM cameras cam WHERE cam.state_note = 'x'"));
    return s.Run();
  });
  EXPECT_FALSE(testing::NoFullScans(plans, kLargeTables));
}

TEST_F(ReportPlanTest, NoReportScansALargeTable) {
  // Each report and the index steps that find its rows.
  const std::vector<std::pair<v1::ReportKind, std::vector<std::string>>> kReports = {
      {v1::REPORT_KIND_LOST, {"cameras_by_state (state=? AND serial>?)"}},
      {v1::REPORT_KIND_FAULTY, {"cameras_by_state (state=? AND serial>?)"}},
      {v1::REPORT_KIND_OVERDUE, {"assignments_open_by_due (due_us>? AND due_us<?)"}},
      {v1::REPORT_KIND_WORN_BATTERY,
       {"camera_status_by_health (battery_health_pm<?)",
        "health_readings_by_cycles (cycle_count>?)"}},
      {v1::REPORT_KIND_NOT_SEEN, {"cameras_by_last_seen (last_seen_us>? AND last_seen_us<?)"}},
      {v1::REPORT_KIND_FLEET_SUMMARY,
       {"cameras_by_site_state (site_id=?)", "docks_by_site (site_id=?)"}},
      {v1::REPORT_KIND_FAILED_UPDATES, {"rollout_units_failed ((rollout_id,camera_id)>(?,?))"}},
  };
  for (const auto& [kind, seeks] : kReports) {
    for (std::optional<int64_t> site :
         {std::optional<int64_t>(), std::optional<int64_t>(region_)}) {
      SCOPED_TRACE(
          absl::StrCat(v1::ReportKind_Name(kind), site ? " for a site" : " for the fleet"));
      ReportQuery q;
      q.site_id = site;
      q.now_us = 1'800'000'000'000'000;
      q.seen_before_us = q.now_us - 7 * 86'400'000'000LL;
      const std::vector<StatementPlan> plans =
          Plans([&](common::Database& db) { return RunReportQuery(db, kind, q).status(); });
      EXPECT_TRUE(testing::NoFullScans(plans, kLargeTables));
      for (const std::string& seek : seeks) EXPECT_TRUE(testing::HasStep(plans, seek));
    }
  }
}

TEST_F(ReportPlanTest, TheStockCheckReadsOneSitesCamerasByIndex) {
  const std::vector<StatementPlan> plans = Plans([&](common::Database& db) {
    return ComputeStockCheck(db,
                             {.site_id = region_, .site_code = "REGION", .now_us = 1, .hours = 24})
        .status();
  });
  EXPECT_TRUE(testing::NoFullScans(plans, kLargeTables));
  EXPECT_TRUE(testing::HasStep(plans, "cameras_by_site (site_id=?)"));
}

}  // namespace
}  // namespace camfleet::storage
