#include "services/monitoring/monitoring_manager.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rpc/validation.h"
#include "services/storage/alert_repository.h"
#include "services/storage/audit_log.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/health_repository.h"

namespace camfleet::monitoring {
namespace {

absl::StatusOr<int64_t> CursorId(const std::string& cursor) {
  int64_t id = 0;
  if (cursor.empty()) return id;
  if (!absl::SimpleAtoi(cursor, &id) || id <= 0) {
    return absl::InvalidArgumentError("page_token does not hold a valid position");
  }
  return id;
}

absl::Status ValidateId(int64_t id) {
  if (id <= 0)
    return absl::InvalidArgumentError(absl::StrCat("id is ", id, "; give a positive id"));
  return absl::OkStatus();
}

using google::protobuf::util::TimeUtil;

constexpr char kMinimumBattery[] = "minimum_battery_percent";
constexpr char kCheckoutDuration[] = "checkout_duration";
constexpr char kReturnOnDock[] = "return_on_dock";
constexpr char kShift[] = "shift";
constexpr char kReserve[] = "reserve";

google::protobuf::Duration ToProto(absl::Duration d) {
  return TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(d));
}

v1::SiteRules SiteRulesProto(const std::string& code, const storage::SiteRulesRecord& record) {
  v1::SiteRules out;
  out.set_site_code(code);
  v1::CheckoutRules* r = out.mutable_rules();
  r->set_minimum_battery_percent(static_cast<uint32_t>(record.rules.minimum_battery_percent));
  *r->mutable_checkout_duration() = ToProto(record.rules.checkout_duration);
  r->set_return_on_dock(record.rules.return_on_dock);
  *r->mutable_shift() = ToProto(record.rules.shift);
  *r->mutable_reserve() = ToProto(record.rules.reserve);
  out.set_defaults(record.defaults);
  if (!record.defaults) {
    *out.mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(record.updated_us);
    out.set_updated_by(record.updated_by);
  }
  return out;
}

// A duration field of SetSiteRulesRequest.rules within [min, max], in whole seconds.
absl::StatusOr<absl::Duration> RuleDuration(absl::string_view field,
                                            const google::protobuf::Duration& d, absl::Duration min,
                                            absl::Duration max) {
  const std::string range = absl::StrCat("give ", absl::FormatDuration(min), " to ",
                                         absl::FormatDuration(max), " in whole seconds");
  if (d.nanos() != 0 || d.seconds() < absl::ToInt64Seconds(min) ||
      d.seconds() > absl::ToInt64Seconds(max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rules.", field, " is ", TimeUtil::ToString(d), "; ", range));
  }
  return absl::Seconds(d.seconds());
}

// The rules after applying `req` to `rules`. INVALID_ARGUMENT naming the field.
absl::Status ApplyRules(const v1::SetSiteRulesRequest& req, storage::SiteRules& rules) {
  if (req.update_mask().paths().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("update_mask is empty; name the fields to change: ", kMinimumBattery, ", ",
                     kCheckoutDuration, ", ", kReturnOnDock, ", ", kShift, ", ", kReserve));
  }
  const v1::CheckoutRules& r = req.rules();
  for (const std::string& path : req.update_mask().paths()) {
    if (path == kMinimumBattery) {
      if (r.minimum_battery_percent() > 100) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rules.minimum_battery_percent is ", r.minimum_battery_percent(), "; give 0-100"));
      }
      rules.minimum_battery_percent = static_cast<int>(r.minimum_battery_percent());
    } else if (path == kCheckoutDuration) {
      ASSIGN_OR_RETURN(rules.checkout_duration,
                       RuleDuration(kCheckoutDuration, r.checkout_duration(), absl::Minutes(15),
                                    absl::Hours(24 * 7)));
    } else if (path == kReturnOnDock) {
      rules.return_on_dock = r.return_on_dock();
    } else if (path == kShift) {
      ASSIGN_OR_RETURN(rules.shift,
                       RuleDuration(kShift, r.shift(), absl::Minutes(1), absl::Hours(24)));
    } else if (path == kReserve) {
      ASSIGN_OR_RETURN(rules.reserve,
                       RuleDuration(kReserve, r.reserve(), absl::ZeroDuration(), absl::Hours(24)));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask names '", path, "', which is not a rule; give ", kMinimumBattery, ", ",
          kCheckoutDuration, ", ", kReturnOnDock, ", ", kShift, " or ", kReserve));
    }
  }
  return absl::OkStatus();
}

std::string RulesText(const storage::SiteRules& r) {
  return absl::StrCat("minimum_battery_percent=", r.minimum_battery_percent,
                      " checkout_duration=", absl::FormatDuration(r.checkout_duration),
                      " return_on_dock=", r.return_on_dock ? "true" : "false",
                      " shift=", absl::FormatDuration(r.shift),
                      " reserve=", absl::FormatDuration(r.reserve));
}

}  // namespace

absl::StatusOr<v1::GetSiteRulesResponse> MonitoringManager::GetSiteRules(
    const v1::GetSiteRulesRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  v1::GetSiteRulesResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(db, req.site_code()));
    ASSIGN_OR_RETURN(storage::SiteRulesRecord record, storage::GetSiteRulesRecord(db, site.id));
    *resp.mutable_site_rules() = SiteRulesProto(req.site_code(), record);
    return absl::OkStatus();
  }));
  return resp;
}

void MonitoringManager::SetSiteRules(const rpc::Identity& who, const v1::SetSiteRulesRequest& req,
                                     Done<v1::SetSiteRulesResponse> done) {
  absl::Status valid = rpc::ValidateSiteCode("site_code", req.site_code());
  if (valid.ok()) {
    storage::SiteRules probe;  // checks every field before the write
    valid = ApplyRules(req, probe);
  }
  if (!valid.ok()) return done(valid);
  storage::WriteWithResponse<v1::SetSiteRulesResponse>(
      store_,
      [who, req](storage::WriteTx& tx, v1::SetSiteRulesResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(tx.db(), req.site_code()));
        ASSIGN_OR_RETURN(storage::SiteRules before, storage::GetSiteRules(tx.db(), site.id));
        storage::SiteRules after = before;
        RETURN_IF_ERROR(ApplyRules(req, after));
        RETURN_IF_ERROR(storage::PutSiteRules(tx, site.id, after, who.actor()));
        RETURN_IF_ERROR(
            storage::Audit(tx, who.actor(), "site.rules", "site", req.site_code(),
                           {{"before", RulesText(before)}, {"after", RulesText(after)}}));
        ASSIGN_OR_RETURN(storage::SiteRulesRecord record,
                         storage::GetSiteRulesRecord(tx.db(), site.id));
        *resp.mutable_site_rules() = SiteRulesProto(req.site_code(), record);
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListAlertsResponse> MonitoringManager::ListAlerts(
    const v1::ListAlertsRequest& req) {
  if (!req.site_code().empty())
    RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  if (!v1::AlertKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError(absl::StrCat("kind ", req.kind(), " is not an AlertKind"));
  }
  if (!v1::AlertAcknowledgedFilter_IsValid(req.acknowledged())) {
    return absl::InvalidArgumentError(
        absl::StrCat("acknowledged ", req.acknowledged(), " is not an AlertAcknowledgedFilter"));
  }
  storage::AlertFilter filter;
  filter.kind = req.kind();
  filter.acknowledged = req.acknowledged();
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query =
      absl::StrCat("alerts|", req.site_code(), "|", req.kind(), "|", req.acknowledged());
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  ASSIGN_OR_RETURN(filter.before_id, CursorId(cursor));
  filter.limit = limit + 1;
  v1::ListAlertsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(filter.site_id, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Alert> alerts, storage::ListAlerts(db, filter));
    if (static_cast<int>(alerts.size()) > limit) {
      alerts.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(alerts.back().id())));
    }
    for (v1::Alert& a : alerts) *resp.add_alerts() = std::move(a);
    return absl::OkStatus();
  }));
  return resp;
}

void MonitoringManager::AcknowledgeAlert(const rpc::Identity& who,
                                         const v1::AcknowledgeAlertRequest& req,
                                         Done<v1::AcknowledgeAlertResponse> done) {
  if (absl::Status s = ValidateId(req.id()); !s.ok()) return done(s);
  storage::WriteWithResponse<v1::AcknowledgeAlertResponse>(
      store_,
      [who, id = req.id()](storage::WriteTx& tx,
                           v1::AcknowledgeAlertResponse& resp) -> absl::Status {
        RETURN_IF_ERROR(storage::AcknowledgeAlert(tx, id, who.actor()));
        ASSIGN_OR_RETURN(*resp.mutable_alert(), storage::GetAlert(tx.db(), id));
        return storage::Audit(tx, who.actor(), "alert.acknowledge", "alert", absl::StrCat(id),
                              {{"kind", v1::AlertKind_Name(resp.alert().kind())},
                               {"serial", resp.alert().serial()},
                               {"dock", resp.alert().dock_id()}});
      },
      std::move(done));
}

absl::StatusOr<v1::ListConflictsResponse> MonitoringManager::ListConflicts(
    const v1::ListConflictsRequest& req) {
  if (!req.site_code().empty())
    RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  storage::ConflictFilter filter;
  filter.open_only = req.open_only();
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query = absl::StrCat("conflicts|", req.site_code(), "|", req.open_only());
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  ASSIGN_OR_RETURN(filter.before_id, CursorId(cursor));
  filter.limit = limit + 1;
  v1::ListConflictsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(filter.site_id, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Conflict> conflicts, storage::ListConflicts(db, filter));
    if (static_cast<int>(conflicts.size()) > limit) {
      conflicts.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(conflicts.back().id())));
    }
    for (v1::Conflict& c : conflicts) *resp.add_conflicts() = std::move(c);
    return absl::OkStatus();
  }));
  return resp;
}

void MonitoringManager::ResolveConflict(const rpc::Identity& who,
                                        const v1::ResolveConflictRequest& req,
                                        Done<v1::ResolveConflictResponse> done) {
  absl::Status valid = ValidateId(req.id());
  if (valid.ok()) valid = rpc::ValidateText("resolution", req.resolution(), 1, 1024);
  if (!valid.ok()) return done(valid);
  storage::WriteWithResponse<v1::ResolveConflictResponse>(
      store_,
      [who, req](storage::WriteTx& tx, v1::ResolveConflictResponse& resp) -> absl::Status {
        RETURN_IF_ERROR(storage::ResolveConflict(tx, req.id(), who.actor(), req.resolution()));
        ASSIGN_OR_RETURN(*resp.mutable_conflict(), storage::GetConflict(tx.db(), req.id()));
        return storage::Audit(
            tx, who.actor(), "conflict.resolve", "camera", resp.conflict().serial(),
            {{"conflict", absl::StrCat(req.id())}, {"resolution", req.resolution()}});
      },
      std::move(done));
}

absl::StatusOr<v1::ListHealthReadingsResponse> MonitoringManager::ListHealthReadings(
    const v1::ListHealthReadingsRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateSerial("serial", req.serial()));
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query = absl::StrCat("health|", req.serial());
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  std::optional<storage::HealthCursor> after;
  if (!cursor.empty()) {
    std::vector<std::string> parts = absl::StrSplit(cursor, '/');
    storage::HealthCursor c;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &c.device_us) ||
        !absl::SimpleAtoi(parts[1], &c.id)) {
      return absl::InvalidArgumentError("page_token does not hold a valid position");
    }
    after = c;
  }
  v1::ListHealthReadingsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(db, req.serial()));
    ASSIGN_OR_RETURN(auto rows, storage::ListHealthReadings(db, cam.id, after, limit + 1));
    if (static_cast<int>(rows.size()) > limit) {
      rows.pop_back();
      const storage::HealthCursor& last = rows.back().second;
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(last.device_us, "/", last.id)));
    }
    for (auto& [record, unused] : rows) *resp.add_readings() = std::move(record);
    return absl::OkStatus();
  }));
  return resp;
}

}  // namespace camfleet::monitoring
