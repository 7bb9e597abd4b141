#pragma once
// What the docks report, for people: alerts, conflicts and health readings (MonitoringService).
// Plain C++ over the store; monitoring_handler.h authenticates and maps the result.
//
// Reads return at once; writes call `done` once the change and its audit event are durable.
// Errors: INVALID_ARGUMENT naming the field (bad id, kind, page size or token); NOT_FOUND for an
// unknown site, camera, alert or conflict; FAILED_PRECONDITION for an alert acknowledged or a
// conflict resolved already.

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "camfleet/v1/monitoring.pb.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::monitoring {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

class MonitoringManager {
 public:
  MonitoringManager(storage::Store& store, const rpc::PageTokens& tokens)
      : store_(store), tokens_(tokens) {}

  absl::StatusOr<v1::ListAlertsResponse> ListAlerts(const v1::ListAlertsRequest& req);
  void AcknowledgeAlert(const rpc::Identity& who, const v1::AcknowledgeAlertRequest& req,
                        Done<v1::AcknowledgeAlertResponse> done);
  absl::StatusOr<v1::ListConflictsResponse> ListConflicts(const v1::ListConflictsRequest& req);
  void ResolveConflict(const rpc::Identity& who, const v1::ResolveConflictRequest& req,
                       Done<v1::ResolveConflictResponse> done);
  absl::StatusOr<v1::ListHealthReadingsResponse> ListHealthReadings(
      const v1::ListHealthReadingsRequest& req);
  // A site's check-out rules (the defaults when it has none of its own).
  absl::StatusOr<v1::GetSiteRulesResponse> GetSiteRules(const v1::GetSiteRulesRequest& req);
  // Changes the fields named in update_mask; audited as "site.rules" with old and new values.
  // The site's docks receive the change with their next site view (services/dock pushes one
  // to every open stream when the audit log moves).
  void SetSiteRules(const rpc::Identity& who, const v1::SetSiteRulesRequest& req,
                    Done<v1::SetSiteRulesResponse> done);

 private:
  storage::Store& store_;
  const rpc::PageTokens& tokens_;
};

}  // namespace camfleet::monitoring
