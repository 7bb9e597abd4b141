// Rollout progress is read at every /metrics scrape: SQLite's own EXPLAIN QUERY PLAN of the exact
// statement (services/storage/rollout_repository.cc), against a real store built by the
// migrations, must reach the unfinished rollouts through their partial index and their units by
// primary key, never by a scan of every unit of every rollout there ever was.

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::IsOk;

TEST(RolloutPlanTest, ProgressReadsUnfinishedRolloutsByIndexAndTheirUnitsByKey) {
  common::FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.File("fleet.db"), clock);
  ASSERT_THAT(store, IsOk());
  std::vector<std::string> plan;
  ASSERT_THAT((*store)->Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(plan, ExplainCountUnitsOfUnfinishedRollouts(db));
    return absl::OkStatus();
  }),
              IsOk());
  const std::string text = absl::StrJoin(plan, "\n");
  EXPECT_THAT(plan, Contains(HasSubstr("rollouts_active"))) << text;
  EXPECT_THAT(plan, Contains(StartsWith("SEARCH u USING PRIMARY KEY (rollout_id=?)"))) << text;
  EXPECT_THAT(plan, Not(Contains(StartsWith("SCAN u")))) << text;
}

}  // namespace
}  // namespace camfleet::storage
