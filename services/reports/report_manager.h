#pragma once
// Reports and stock checks (ReportService) as a plain C++ API over the store: the gRPC handler
// (report_handler.h) and the web page call the same functions. Reads return at once; writes
// call `done` once the change and its audit event are durable.
//
// A report is read one page at a time: call RunReport with page_token empty, then with each
// response's next_page_token until it comes back empty. Every page has the same columns, so a
// caller can write CSV or a table row by row without holding the whole report.
//
// Errors: INVALID_ARGUMENT naming the field (unknown report, filter out of range or for
// another report, bad site code, page size or token); NOT_FOUND for an unknown site;
// UNIMPLEMENTED for the failed-updates report until rollouts are recorded.
// Site codes are accepted in any case (rpc::CanonicalCode).

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "camfleet/v1/report.pb.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::reports {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// Defaults of the filters (RunReportRequest fields left 0).
inline constexpr uint32_t kDefaultHealthBelowPercent = 80;
inline constexpr uint32_t kDefaultCycleCountAbove = 500;
inline constexpr uint32_t kDefaultNotSeenDays = 7;
inline constexpr uint32_t kDefaultStockCheckHours = 24;

class ReportManager {
 public:
  ReportManager(storage::Store& store, const rpc::PageTokens& tokens)
      : store_(store), tokens_(tokens) {}

  // One page of a report.
  absl::StatusOr<v1::RunReportResponse> RunReport(const v1::RunReportRequest& req);
  // A site's stock against what its docks saw in the last `hours`.
  absl::StatusOr<v1::CheckStockResponse> CheckStock(const v1::CheckStockRequest& req);
  // The same check, recorded with an audit event "stock_check.record" in one transaction.
  void RecordStockCheck(const rpc::Identity& who, const v1::RecordStockCheckRequest& req,
                        Done<v1::RecordStockCheckResponse> done);
  absl::StatusOr<v1::ListStockChecksDueResponse> ListStockChecksDue(
      const v1::ListStockChecksDueRequest& req);
  // Audited as "site.stock_check_interval" with the old and new interval.
  void SetStockCheckInterval(const rpc::Identity& who, const v1::SetStockCheckIntervalRequest& req,
                             Done<v1::SetStockCheckIntervalResponse> done);

 private:
  storage::Store& store_;
  const rpc::PageTokens& tokens_;
};

}  // namespace camfleet::reports
