#include "services/reports/report_manager.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rpc/canonical_codes.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/report_repository.h"

namespace camfleet::reports {
namespace {

using google::protobuf::util::TimeUtil;

constexpr uint32_t kMaxStockCheckHours = 2160;  // 90 days
constexpr uint32_t kMaxNotSeenDays = 3650;
constexpr uint32_t kMaxCycleCount = 1000000;

// "lost", "overdue", ...: the names the CLI takes, for messages.
std::string ReportNames() {
  std::vector<std::string> names;
  for (int i = 1; i < v1::ReportKind_ARRAYSIZE; ++i) {
    if (!v1::ReportKind_IsValid(i)) continue;
    std::string name = v1::ReportKind_Name(static_cast<v1::ReportKind>(i));
    names.push_back(name.substr(sizeof("REPORT_KIND_") - 1));
  }
  return absl::StrJoin(names, ", ");
}

absl::Status NotFor(absl::string_view field, v1::ReportKind kind, absl::string_view applies_to) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, " applies to the ", applies_to, " report only, not to ", v1::ReportKind_Name(kind)));
}

// The filters of `req` checked and resolved into `q`. INVALID_ARGUMENT naming the field.
absl::Status ResolveFilters(const v1::RunReportRequest& req, storage::ReportQuery& q) {
  const v1::ReportKind kind = req.report();
  if (kind == v1::REPORT_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("report is required; give one of ", ReportNames()));
  }
  if (!v1::ReportKind_IsValid(kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report ", static_cast<int>(kind), " is not a ReportKind; give one of ", ReportNames()));
  }
  const bool worn = kind == v1::REPORT_KIND_WORN_BATTERY;
  if (req.battery_health_below_percent() != 0) {
    if (!worn) return NotFor("battery_health_below_percent", kind, "WORN_BATTERY");
    if (req.battery_health_below_percent() > 100) {
      return absl::InvalidArgumentError(absl::StrCat("battery_health_below_percent is ",
                                                     req.battery_health_below_percent(),
                                                     "; give 1-100 (percent of design capacity)"));
    }
  }
  if (req.cycle_count_above() != 0) {
    if (!worn) return NotFor("cycle_count_above", kind, "WORN_BATTERY");
    if (req.cycle_count_above() > kMaxCycleCount) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cycle_count_above is ", req.cycle_count_above(), "; give 1-", kMaxCycleCount));
    }
  }
  if (req.not_seen_days() != 0) {
    if (kind != v1::REPORT_KIND_NOT_SEEN) return NotFor("not_seen_days", kind, "NOT_SEEN");
    if (req.not_seen_days() > kMaxNotSeenDays) {
      return absl::InvalidArgumentError(
          absl::StrCat("not_seen_days is ", req.not_seen_days(), "; give 1-", kMaxNotSeenDays));
    }
  }
  const uint32_t health = req.battery_health_below_percent() != 0
                              ? req.battery_health_below_percent()
                              : kDefaultHealthBelowPercent;
  q.health_below_pm = int64_t{health} * 10;
  q.cycles_above = req.cycle_count_above() != 0 ? req.cycle_count_above() : kDefaultCycleCountAbove;
  const uint32_t days = req.not_seen_days() != 0 ? req.not_seen_days() : kDefaultNotSeenDays;
  q.seen_before_us = q.now_us - int64_t{days} * 86400 * 1000 * 1000;
  return absl::OkStatus();
}

// Checks a site code given in any case and returns it in its stored case ("" stays "").
absl::StatusOr<std::string> SiteCodeIfGiven(absl::string_view field, const std::string& code) {
  if (code.empty()) return std::string();
  std::string canonical = rpc::CanonicalCode(code);
  RETURN_IF_ERROR(rpc::ValidateSiteCode(field, canonical));
  return canonical;
}

absl::StatusOr<uint32_t> StockHours(uint32_t hours) {
  if (hours == 0) return kDefaultStockCheckHours;
  if (hours > kMaxStockCheckHours) {
    return absl::InvalidArgumentError(
        absl::StrCat("hours is ", hours, "; give 1-", kMaxStockCheckHours, " (90 days)"));
  }
  return hours;
}

}  // namespace

absl::StatusOr<v1::RunReportResponse> ReportManager::RunReport(const v1::RunReportRequest& req) {
  storage::ReportQuery q;
  q.now_us = common::ToMicros(store_.clock().Now());
  RETURN_IF_ERROR(ResolveFilters(req, q));
  ASSIGN_OR_RETURN(std::string site, SiteCodeIfGiven("site_code", req.site_code()));
  ASSIGN_OR_RETURN(q.limit, rpc::ResolvePageSize(req.page_size()));
  // The token belongs to this report with these filters (as given: a default and an explicit
  // value of the same number are different queries, which costs nothing).
  const std::string query =
      absl::StrCat("report|", req.report(), "|", site, "|", req.battery_health_below_percent(), "|",
                   req.cycle_count_above(), "|", req.not_seen_days());
  ASSIGN_OR_RETURN(q.cursor, tokens_.Decode(query, req.page_token()));
  v1::RunReportResponse resp;
  resp.set_report(req.report());
  *resp.mutable_as_of() = TimeUtil::MicrosecondsToTimestamp(q.now_us);
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(q.site_id, storage::FindSiteIdIfGiven(db, site));
    ASSIGN_OR_RETURN(storage::ReportPage page, storage::RunReportQuery(db, req.report(), q));
    for (v1::ReportRow& row : page.rows) *resp.add_rows() = std::move(row);
    if (!page.next_cursor.empty()) {
      resp.set_next_page_token(tokens_.Encode(query, page.next_cursor));
    }
    return absl::OkStatus();
  }));
  for (const v1::ReportColumn& c : storage::ReportColumns(req.report())) *resp.add_columns() = c;
  return resp;
}

absl::StatusOr<v1::CheckStockResponse> ReportManager::CheckStock(const v1::CheckStockRequest& req) {
  if (req.site_code().empty()) return absl::InvalidArgumentError("site_code is required");
  ASSIGN_OR_RETURN(std::string site, SiteCodeIfGiven("site_code", req.site_code()));
  ASSIGN_OR_RETURN(uint32_t hours, StockHours(req.hours()));
  v1::CheckStockResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::SiteRow row, storage::FindSite(db, site));
    storage::StockCheckQuery q{.site_id = row.id,
                               .site_code = site,
                               .now_us = common::ToMicros(store_.clock().Now()),
                               .hours = static_cast<int>(hours)};
    ASSIGN_OR_RETURN(*resp.mutable_check(), storage::ComputeStockCheck(db, q));
    return absl::OkStatus();
  }));
  return resp;
}

void ReportManager::RecordStockCheck(const rpc::Identity& who,
                                     const v1::RecordStockCheckRequest& req,
                                     Done<v1::RecordStockCheckResponse> done) {
  if (req.site_code().empty()) return done(absl::InvalidArgumentError("site_code is required"));
  absl::StatusOr<std::string> code = SiteCodeIfGiven("site_code", req.site_code());
  if (!code.ok()) return done(code.status());
  absl::StatusOr<uint32_t> window = StockHours(req.hours());
  if (!window.ok()) return done(window.status());
  if (absl::Status s = rpc::ValidateText("note", req.note(), 0, 1024); !s.ok()) return done(s);
  storage::WriteWithResponse<v1::RecordStockCheckResponse>(
      store_,
      [who, site = *code, hours = *window, note = req.note()](
          storage::WriteTx& tx, v1::RecordStockCheckResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow row, storage::FindSite(tx.db(), site));
        // Computed inside the write, so the record is exactly what the store held when it
        // was made.
        storage::StockCheckQuery q{.site_id = row.id,
                                   .site_code = site,
                                   .now_us = common::ToMicros(tx.now()),
                                   .hours = static_cast<int>(hours)};
        ASSIGN_OR_RETURN(*resp.mutable_check(), storage::ComputeStockCheck(tx.db(), q));
        ASSIGN_OR_RETURN(*resp.mutable_record(),
                         storage::InsertStockCheck(tx, row.id, resp.check(), who.actor(), note));
        const v1::StockCheckRecord& r = resp.record();
        return storage::Audit(tx, who.actor(), "stock_check.record", "site", site,
                              {{"id", absl::StrCat(r.id())},
                               {"hours", absl::StrCat(r.hours())},
                               {"expected", absl::StrCat(r.expected_count())},
                               {"seen", absl::StrCat(r.seen_count())},
                               {"issued", absl::StrCat(r.issued_count())},
                               {"missing", absl::StrCat(r.missing_count())},
                               {"missing_serials", absl::StrJoin(r.missing_serials(), " ")},
                               {"note", note}});
      },
      std::move(done));
}

absl::StatusOr<v1::ListStockChecksDueResponse> ReportManager::ListStockChecksDue(
    const v1::ListStockChecksDueRequest& req) {
  ASSIGN_OR_RETURN(std::string site, SiteCodeIfGiven("site_code", req.site_code()));
  const int64_t now = common::ToMicros(store_.clock().Now());
  v1::ListStockChecksDueResponse resp;
  *resp.mutable_as_of() = TimeUtil::MicrosecondsToTimestamp(now);
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> root, storage::FindSiteIdIfGiven(db, site));
    ASSIGN_OR_RETURN(std::vector<v1::StockCheckDue> due,
                     storage::ListStockChecksDue(db, root, now));
    for (v1::StockCheckDue& d : due) *resp.add_due() = std::move(d);
    return absl::OkStatus();
  }));
  return resp;
}

void ReportManager::SetStockCheckInterval(const rpc::Identity& who,
                                          const v1::SetStockCheckIntervalRequest& req,
                                          Done<v1::SetStockCheckIntervalResponse> done) {
  if (req.site_code().empty()) return done(absl::InvalidArgumentError("site_code is required"));
  absl::StatusOr<std::string> code = SiteCodeIfGiven("site_code", req.site_code());
  if (!code.ok()) return done(code.status());
  if (req.interval_days() < 1 || req.interval_days() > 366) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("interval_days is ", req.interval_days(), "; give 1-366")));
  }
  storage::WriteWithResponse<v1::SetStockCheckIntervalResponse>(
      store_,
      [who, site = *code, days = static_cast<int>(req.interval_days())](
          storage::WriteTx& tx, v1::SetStockCheckIntervalResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow row, storage::FindSite(tx.db(), site));
        ASSIGN_OR_RETURN(int before, storage::GetStockCheckInterval(tx.db(), row.id));
        RETURN_IF_ERROR(storage::PutStockCheckInterval(tx, row.id, days, who.actor()));
        RETURN_IF_ERROR(storage::Audit(
            tx, who.actor(), "site.stock_check_interval", "site", site,
            {{"before_days", absl::StrCat(before)}, {"after_days", absl::StrCat(days)}}));
        ASSIGN_OR_RETURN(std::vector<v1::StockCheckDue> due,
                         storage::ListStockChecksDue(tx.db(), row.id, common::ToMicros(tx.now())));
        for (v1::StockCheckDue& d : due) {
          if (d.site_code() == site) *resp.mutable_due() = std::move(d);
        }
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace camfleet::reports
