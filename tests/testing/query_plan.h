#pragma once
// SQLite's own EXPLAIN QUERY PLAN for every statement a piece of code runs: a test calls the
// real repository function under PlansOfStatementsRun and checks that no statement reads a
// large table from end to end (FullScans).

#include <set>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sqlite.h"
#include "gtest/gtest.h"
#include "services/storage/store.h"

namespace camfleet::testing {

struct StatementPlan {
  std::string sql;                // as prepared, with its parameters unbound
  std::vector<std::string> plan;  // EXPLAIN QUERY PLAN's detail lines, in order
};

// Runs `fn` on `db`, recording each distinct statement it runs there (not trigger programs),
// then asks SQLite for the plan of each. Errors: fn's, or SQLite's.
absl::StatusOr<std::vector<StatementPlan>> PlansOfStatementsRun(
    common::Database& db, absl::FunctionRef<absl::Status(common::Database&)> fn);

// The same on a reader connection of `store` (Store::Read). Errors: fn's, the store's, or SQLite's.
absl::StatusOr<std::vector<StatementPlan>> PlansOfStatementsRun(
    storage::Store& store, absl::FunctionRef<absl::Status(common::Database&)> fn);

// The plan lines that read one of `large_tables` whole: "SCAN x ..." where x is the table or
// the alias the statement gives it (a "SCAN" walks a table or index from one end; a "SEARCH"
// seeks). A CTE or a small table may be scanned.
std::vector<std::string> FullScans(const StatementPlan& statement,
                                   const std::set<std::string>& large_tables);

// The statement's plan as one line per step, for failure messages.
std::string Describe(const StatementPlan& statement);

// Assertions for EXPECT_TRUE / ASSERT_TRUE; a failure prints the plans concerned (Describe).
//
// No statement of `plans` reads one of `large_tables` whole (FullScans). Fails as well when
// `plans` is empty: a function that ran no statement checked nothing.
::testing::AssertionResult NoFullScans(const std::vector<StatementPlan>& plans,
                                       const std::set<std::string>& large_tables);
// Some plan line contains `step` (e.g. "cameras_by_state (state=? AND serial>?)": the index
// and bound that serve a filter).
::testing::AssertionResult HasStep(const std::vector<StatementPlan>& plans, absl::string_view step);
// No plan line contains `step` (e.g. "TEMP B-TREE", or an unbounded walk).
::testing::AssertionResult HasNoStep(const std::vector<StatementPlan>& plans,
                                     absl::string_view step);

}  // namespace camfleet::testing
