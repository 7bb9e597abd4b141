#pragma once
// Issue and return as steps of a caller's write transaction: the one place that decides what
// is legal for custody, shared by FleetService (a quartermaster at a desk) and the dock sync
// stream (an officer badging at a dock). Each checks the lifecycle (lifecycle.h), changes the
// assignment and the state, and appends the audit event with `who` as the actor, all in `tx`.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/fleet.pb.h"
#include "services/rpc/identity.h"
#include "services/rpc/revocation_set.h"
#include "services/storage/store.h"

namespace camfleet::fleet {

using AuditFields = std::vector<std::pair<std::string, std::string>>;

struct IssueStep {
  std::string serial;
  std::string holder_badge;
  int64_t due_us = 0;
  std::string note;
  std::string force_reason;   // non-empty when forced
  AuditFields extra_details;  // appended to the audit event's details
};
// Errors: NOT_FOUND for an unknown camera or badge; FAILED_PRECONDITION naming the state when
// the camera is not AVAILABLE; ABORTED if another write opened an assignment meanwhile.
absl::StatusOr<v1::IssueCameraResponse> IssueInTransaction(storage::WriteTx& tx,
                                                           const rpc::Identity& who,
                                                           const IssueStep& step);

struct ReturnStep {
  std::string serial;
  v1::ReturnCondition condition = v1::RETURN_CONDITION_GOOD;  // GOOD or DAMAGED
  std::string note;
  AuditFields extra_details;
};
// Errors: NOT_FOUND; FAILED_PRECONDITION naming the state when the camera is not ISSUED.
absl::StatusOr<v1::ReturnCameraResponse> ReturnInTransaction(storage::WriteTx& tx,
                                                             const rpc::Identity& who,
                                                             const ReturnStep& step,
                                                             rpc::RevocationSet& revoked);

}  // namespace camfleet::fleet
