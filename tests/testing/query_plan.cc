#include "tests/testing/query_plan.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace camfleet::testing {
namespace {

int RecordStatement(unsigned type, void* ctx, void* p, void* x) {
  if (type != SQLITE_TRACE_STMT) return 0;
  const char* text = static_cast<const char*>(x);
  // Trigger programs are reported as "-- <trigger>"; only top-level statements are planned.
  if (text == nullptr || absl::StartsWith(text, "--")) return 0;
  const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(p));
  auto* out = static_cast<std::vector<std::string>*>(ctx);
  if (sql != nullptr && std::find(out->begin(), out->end(), sql) == out->end()) {
    out->push_back(sql);
  }
  return 0;
}

// alias (or table name) -> table, from the FROM and JOIN clauses of `sql`.
std::map<std::string, std::string> Aliases(const std::string& sql) {
  static const std::regex kTableRef(R"((?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?)",
                                    std::regex::icase);
  static const std::set<std::string> kKeywords = {
      "WHERE", "ON",    "JOIN",    "LEFT",  "INNER", "CROSS", "INDEXED", "ORDER", "GROUP",
      "LIMIT", "USING", "NATURAL", "UNION", "WITH",  "NOT",   "AND",     "OR",    "SELECT"};
  std::map<std::string, std::string> out;
  for (auto it = std::sregex_iterator(sql.begin(), sql.end(), kTableRef);
       it != std::sregex_iterator(); ++it) {
    const std::string table = (*it)[1];
    out[table] = table;
    const std::string alias = (*it)[2];
    if (!alias.empty() && kKeywords.count(absl::AsciiStrToUpper(alias)) == 0) out[alias] = table;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<StatementPlan>> PlansOfStatementsRun(
    common::Database& db, absl::FunctionRef<absl::Status(common::Database&)> fn) {
  std::vector<std::string> statements;
  sqlite3_trace_v2(db.handle(), SQLITE_TRACE_STMT, &RecordStatement, &statements);
  absl::Status ran = fn(db);
  sqlite3_trace_v2(db.handle(), 0, nullptr, nullptr);
  if (!ran.ok()) return ran;
  std::vector<StatementPlan> out;
  for (const std::string& sql : statements) {
    absl::StatusOr<common::Statement> explain =
        db.Prepare(absl::StrCat("EXPLAIN QUERY PLAN ", sql));
    if (!explain.ok()) return explain.status();
    StatementPlan plan{sql, {}};
    while (true) {
      absl::StatusOr<bool> row = explain->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      plan.plan.push_back(explain->ColumnText(3));
    }
    out.push_back(std::move(plan));
  }
  return out;
}

std::vector<std::string> FullScans(const StatementPlan& statement,
                                   const std::set<std::string>& large_tables) {
  static const std::regex kScan(R"(^SCAN (\w+))");
  const std::map<std::string, std::string> aliases = Aliases(statement.sql);
  std::vector<std::string> scans;
  for (const std::string& line : statement.plan) {
    std::smatch m;
    if (!std::regex_search(line, m, kScan)) continue;
    auto it = aliases.find(m[1]);
    const std::string table = it != aliases.end() ? it->second : std::string(m[1]);
    if (large_tables.count(table) > 0) scans.push_back(line);
  }
  return scans;
}

absl::StatusOr<std::vector<StatementPlan>> PlansOfStatementsRun(
    storage::Store& store, absl::FunctionRef<absl::Status(common::Database&)> fn) {
  std::vector<StatementPlan> plans;
  absl::Status read = store.Read([&](common::Database& db) -> absl::Status {
    absl::StatusOr<std::vector<StatementPlan>> ran = PlansOfStatementsRun(db, fn);
    if (!ran.ok()) return ran.status();
    plans = *std::move(ran);
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return plans;
}

std::string Describe(const StatementPlan& statement) {
  return absl::StrCat(statement.sql, "\n  ", absl::StrJoin(statement.plan, "\n  "));
}

::testing::AssertionResult NoFullScans(const std::vector<StatementPlan>& plans,
                                       const std::set<std::string>& large_tables) {
  if (plans.empty()) return ::testing::AssertionFailure() << "no statement ran";
  std::string failures;
  for (const StatementPlan& p : plans) {
    const std::vector<std::string> scans = FullScans(p, large_tables);
    if (scans.empty()) continue;
    absl::StrAppend(&failures, "\n", absl::StrJoin(scans, ", "), " reads a large table whole in\n",
                    Describe(p));
  }
  if (failures.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "a full scan of a large table:" << failures;
}

::testing::AssertionResult HasStep(const std::vector<StatementPlan>& plans,
                                   absl::string_view step) {
  std::vector<std::string> described;
  for (const StatementPlan& p : plans) {
    for (const std::string& line : p.plan) {
      if (absl::StrContains(line, step)) return ::testing::AssertionSuccess();
    }
    described.push_back(Describe(p));
  }
  return ::testing::AssertionFailure() << "no plan line has \"" << step << "\":\n"
                                       << absl::StrJoin(described, "\n");
}

::testing::AssertionResult HasNoStep(const std::vector<StatementPlan>& plans,
                                     absl::string_view step) {
  std::string failures;
  for (const StatementPlan& p : plans) {
    for (const std::string& line : p.plan) {
      if (!absl::StrContains(line, step)) continue;
      absl::StrAppend(&failures, "\n", Describe(p));
      break;
    }
  }
  if (failures.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "a plan line has \"" << step << "\":" << failures;
}

}  // namespace camfleet::testing
