// Rollout progress is read at every /metrics scrape: SQLite's own EXPLAIN QUERY PLAN of every
// statement CountUnitsOfUnfinishedRollouts runs (tests/testing/query_plan.h), against a real
// store built by the migrations, must reach the unfinished rollouts through their partial index
// and their units by primary key, never by a scan of every unit of every rollout there ever was.

#include <string>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"
#include "tests/testing/query_plan.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using testing::IsOk;

TEST(RolloutPlanTest, ProgressReadsUnfinishedRolloutsByIndexAndTheirUnitsByKey) {
  common::FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.File("fleet.db"), clock);
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<std::vector<testing::StatementPlan>> plans = testing::PlansOfStatementsRun(
      **store, [](common::Database& db) { return CountUnitsOfUnfinishedRollouts(db).status(); });
  ASSERT_THAT(plans, IsOk());
  EXPECT_TRUE(testing::NoFullScans(*plans, {"rollout_units"}));
  EXPECT_TRUE(testing::HasStep(*plans, "rollouts_active"));
  EXPECT_TRUE(testing::HasStep(*plans, "SEARCH u USING PRIMARY KEY (rollout_id=?)"));
}

}  // namespace
}  // namespace camfleet::storage
