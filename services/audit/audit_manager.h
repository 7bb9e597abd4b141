#pragma once
// Reading and verifying the audit chain.

#include "absl/status/statusor.h"
#include "camfleet/v1/audit.pb.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::audit {

class AuditManager {
 public:
  // `verify_piece`: events VerifyAuditChain checks per read transaction.
  AuditManager(storage::Store& store, const rpc::PageTokens& tokens, int verify_piece = 5000)
      : store_(store), tokens_(tokens), verify_piece_(verify_piece) {}

  // Errors: INVALID_ARGUMENT for an inverted time range, a bad page size or page token.
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const v1::ListAuditEventsRequest& req);
  // Never fails for a broken chain: that is reported in the response.
  absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAuditChain(
      const v1::VerifyAuditChainRequest& req);

 private:
  storage::Store& store_;
  const rpc::PageTokens& tokens_;
  const int verify_piece_;
};

}  // namespace camfleet::audit
