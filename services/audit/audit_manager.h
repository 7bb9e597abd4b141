#pragma once
// Reading and verifying the audit chain.

#include "absl/status/statusor.h"
#include "camfleet/v1/audit.pb.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::audit {

class AuditManager {
 public:
  AuditManager(storage::Store& store, const rpc::PageTokens& tokens)
      : store_(store), tokens_(tokens) {}

  // Errors: INVALID_ARGUMENT for an inverted time range, a bad page size or page token.
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const v1::ListAuditEventsRequest& req);
  // Never fails for a broken chain: that is reported in the response.
  absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAuditChain(
      const v1::VerifyAuditChainRequest& req);

 private:
  storage::Store& store_;
  const rpc::PageTokens& tokens_;
};

}  // namespace camfleet::audit
