#pragma once
// SQL for reports and stock checks (services/reports). Every report is one statement that walks
// an index in page order (or, for worn batteries, a small set found through two indexes) and
// stops after `limit` rows, so a page costs the same at 1,000 cameras as at 100,000; the plans
// are checked by tests/reports/report_plan_test.cc, which fails on a full scan of a large table.
//
// Rows come back as v1::ReportRow cells in the order of ReportColumns(kind): integers in
// decimal, times in RFC 3339 UTC, durations in whole seconds, empty for "none".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/report.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// A dock counts as online in the fleet summary when it was in contact this recently.
inline constexpr int64_t kDockOnlineWindowUs = int64_t{15} * 60 * 1000 * 1000;
// Stock checks are due this often at a site that has no interval of its own.
inline constexpr int kDefaultStockCheckIntervalDays = 30;

struct ReportQuery {
  std::optional<int64_t> site_id;  // this site and under it; unset: the whole fleet
  int64_t now_us = 0;
  int64_t health_below_pm = 800;  // WORN_BATTERY: battery_health_pm below this
  int64_t cycles_above = 500;     // WORN_BATTERY: cycle count above this
  int64_t seen_before_us = 0;     // NOT_SEEN: last seen before this
  std::string cursor;             // a previous page's next_cursor; empty for the first page
  int limit = 100;
};

struct ReportPage {
  std::vector<v1::ReportRow> rows;
  std::string next_cursor;  // empty on the last page
};

// The columns of `kind` (empty for UNSPECIFIED and FAILED_UPDATES).
const std::vector<v1::ReportColumn>& ReportColumns(v1::ReportKind kind);

// One page. INVALID_ARGUMENT naming page_token for a cursor that does not parse;
// UNIMPLEMENTED for FAILED_UPDATES (no rollout table yet: see report_repository.cc).
absl::StatusOr<ReportPage> RunReportQuery(common::Database& db, v1::ReportKind kind,
                                          const ReportQuery& query);

// ---- stock checks ----

struct StockCheckQuery {
  int64_t site_id = 0;
  std::string site_code;
  int64_t now_us = 0;
  int hours = 24;
};
// The check of one site's own cameras, in serial order.
absl::StatusOr<v1::StockCheck> ComputeStockCheck(common::Database& db,
                                                 const StockCheckQuery& query);

// Records `check` as done by `by` at the transaction's time; returns the record.
absl::StatusOr<v1::StockCheckRecord> InsertStockCheck(WriteTx& tx, int64_t site_id,
                                                      const v1::StockCheck& check,
                                                      const std::string& by,
                                                      const std::string& note);

// Each site under `root_id` (including it), or every site, with its interval and last check;
// due_time and overdue filled against `now_us`; soonest due first, then by code.
absl::StatusOr<std::vector<v1::StockCheckDue>> ListStockChecksDue(common::Database& db,
                                                                  std::optional<int64_t> root_id,
                                                                  int64_t now_us);
absl::Status PutStockCheckInterval(WriteTx& tx, int64_t site_id, int days, const std::string& by);
// The interval of a site (the default when it has none of its own).
absl::StatusOr<int> GetStockCheckInterval(common::Database& db, int64_t site_id);

}  // namespace camfleet::storage
