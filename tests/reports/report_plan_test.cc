// Every report and the stock check read indexes, never a whole large table: SQLite's own
// EXPLAIN QUERY PLAN for the exact statements services/storage/report_repository.cc runs, with
// and without a site filter, against a real store built by the migrations. A plan line
// "SCAN <alias>" for cameras, camera_status, health_readings, assignments, holders or docks
// fails the test (the aliases name their table; small CTEs like `subtree` may be scanned).

#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/report_repository.h"
#include "services/storage/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using testing::IsOk;

// The plan lines that read a large table from end to end.
std::vector<std::string> FullScans(const std::vector<std::string>& plan) {
  static const std::regex kLargeScan(
      R"(^SCAN (cam|cst\d?|hrd\d?|asg\d?|lasg|hld|lhld|dck|unt)( |$))");
  std::vector<std::string> scans;
  for (const std::string& line : plan) {
    if (std::regex_search(line, kLargeScan)) scans.push_back(line);
  }
  return scans;
}

class ReportPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    // A region with a post under it, so the subtree form of every statement is the one planned.
    std::optional<int64_t> region;
    ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(SiteRow r, InsertSite(tx, "REGION", "Region", std::nullopt));
      region = r.id;
      return InsertSite(tx, "POST-1", "Post", r.id).status();
    }),
                IsOk());
    region_ = *region;
  }

  std::vector<std::string> Plan(v1::ReportKind kind, std::optional<int64_t> site) {
    ReportQuery q;
    q.site_id = site;
    q.now_us = 1'800'000'000'000'000;
    q.seen_before_us = q.now_us - 7 * 86'400'000'000LL;
    std::vector<std::string> plan;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(plan, ExplainReportQuery(db, kind, q));
      return absl::OkStatus();
    }),
                IsOk());
    return plan;
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  int64_t region_ = 0;
};

TEST_F(ReportPlanTest, TheCheckCatchesAFullScan) {
  std::vector<std::string> plan;
  ASSERT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(common::Statement s, db.Prepare("EXPLAIN QUERY PLAN SELECT * FROM cameras cam "
                                                     "WHERE cam.state_note = 'x'"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return absl::OkStatus();
      plan.push_back(s.ColumnText(3));
    }
  }),
              IsOk());
  EXPECT_THAT(FullScans(plan), ::testing::SizeIs(1)) << absl::StrJoin(plan, "\n");
}

TEST_F(ReportPlanTest, NoReportScansALargeTable) {
  for (v1::ReportKind kind :
       {v1::REPORT_KIND_LOST, v1::REPORT_KIND_OVERDUE, v1::REPORT_KIND_WORN_BATTERY,
        v1::REPORT_KIND_NOT_SEEN, v1::REPORT_KIND_FAULTY, v1::REPORT_KIND_FLEET_SUMMARY,
        v1::REPORT_KIND_FAILED_UPDATES}) {
    for (std::optional<int64_t> site :
         {std::optional<int64_t>(), std::optional<int64_t>(region_)}) {
      std::vector<std::string> plan = Plan(kind, site);
      ASSERT_FALSE(plan.empty()) << v1::ReportKind_Name(kind);
      EXPECT_THAT(FullScans(plan), ::testing::IsEmpty())
          << v1::ReportKind_Name(kind) << (site ? " for a site" : " for the fleet") << ":\n"
          << absl::StrJoin(plan, "\n");
    }
  }
}

TEST_F(ReportPlanTest, TheStockCheckReadsOneSitesCamerasByIndex) {
  std::vector<std::string> plan;
  ASSERT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        plan, ExplainStockCheck(
                  db, {.site_id = region_, .site_code = "REGION", .now_us = 1, .hours = 24}));
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_THAT(FullScans(plan), ::testing::IsEmpty()) << absl::StrJoin(plan, "\n");
}

}  // namespace
}  // namespace camfleet::storage
