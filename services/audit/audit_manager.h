#pragma once
// Reading and verifying the audit chain.

#include "absl/status/statusor.h"
#include "camfleet/v1/audit.pb.h"
#include "provisioning/audit_checkpoint.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::audit {

class AuditManager {
 public:
  // `verify_piece`: events VerifyAuditChain checks per read transaction. `signer`: the
  // server's checkpoint key (null: CreateAuditCheckpoint and checkpoint checks are refused).
  AuditManager(storage::Store& store, const rpc::PageTokens& tokens,
               const provisioning::CheckpointSigner* signer = nullptr, int verify_piece = 5000)
      : store_(store), tokens_(tokens), signer_(signer), verify_piece_(verify_piece) {}

  // Errors: INVALID_ARGUMENT for an inverted time range, a bad page size or page token.
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const v1::ListAuditEventsRequest& req);
  // Never fails for a broken chain, nor for a chain that does not match the request's
  // checkpoint: that is reported in the response. INVALID_ARGUMENT for a malformed checkpoint;
  // FAILED_PRECONDITION if the server has no checkpoint key.
  absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAuditChain(
      const v1::VerifyAuditChainRequest& req);
  // Signs the chain's head as it is now (a durable read). FAILED_PRECONDITION if the server
  // has no checkpoint key; INTERNAL if the database has no generation id.
  absl::StatusOr<v1::CreateAuditCheckpointResponse> CreateAuditCheckpoint(
      const v1::CreateAuditCheckpointRequest& req);

 private:
  storage::Store& store_;
  const rpc::PageTokens& tokens_;
  const provisioning::CheckpointSigner* const signer_;
  const int verify_piece_;
};

// A checkpoint of the chain in `store` as it is now, signed with `signer`; used by the RPC, the
// server's periodic checkpoints and `camfleetd backup`. INTERNAL if the database has no
// generation id.
absl::StatusOr<v1::CreateAuditCheckpointResponse> MakeAuditCheckpoint(
    storage::Store& store, const provisioning::CheckpointSigner& signer);
// Signs the given head.
absl::StatusOr<v1::CreateAuditCheckpointResponse> SignAuditCheckpoint(
    int64_t sequence, const std::string& head_hash_hex, const std::string& generation,
    absl::Time now, const provisioning::CheckpointSigner& signer);

}  // namespace camfleet::audit
