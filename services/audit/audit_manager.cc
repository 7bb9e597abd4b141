#include "services/audit/audit_manager.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/dock_sync_repository.h"

namespace camfleet::audit {

using google::protobuf::util::TimeUtil;

absl::StatusOr<v1::ListAuditEventsResponse> AuditManager::ListAuditEvents(
    const v1::ListAuditEventsRequest& req) {
  storage::AuditFilter filter;
  RETURN_IF_ERROR(rpc::ValidateText("object_id", req.object_id(), 0, 64));
  RETURN_IF_ERROR(rpc::ValidateText("actor", req.actor(), 0, 256));
  RETURN_IF_ERROR(rpc::ValidateText("action", req.action(), 0, 64));
  filter.object_id = req.object_id();
  filter.actor = req.actor();
  filter.action = req.action();
  if (req.has_start_time()) {
    ASSIGN_OR_RETURN(filter.start_us, rpc::TimestampMicros("start_time", true, req.start_time()));
  }
  if (req.has_end_time()) {
    ASSIGN_OR_RETURN(filter.end_us, rpc::TimestampMicros("end_time", true, req.end_time()));
  }
  if (filter.start_us && filter.end_us && *filter.end_us <= *filter.start_us) {
    return absl::InvalidArgumentError("end_time is not after start_time; swap them");
  }
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query =
      absl::StrCat("audit|", req.object_id().size(), ":", req.object_id(), "|", req.actor().size(),
                   ":", req.actor(), "|", req.action(), "|", filter.start_us.value_or(-1), "|",
                   filter.end_us.value_or(-1));
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  if (!cursor.empty() && !absl::SimpleAtoi(cursor, &filter.after_seq)) {
    return absl::InvalidArgumentError("page_token is malformed; start again without it");
  }
  filter.limit = limit + 1;
  v1::ListAuditEventsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events, storage::ListAudit(db, filter));
    if (static_cast<int>(events.size()) > limit) {
      events.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(events.back().sequence())));
    }
    for (v1::AuditEvent& e : events) *resp.add_events() = std::move(e);
    return absl::OkStatus();
  }));
  return resp;
}

namespace {

absl::Status NoCheckpointKey() {
  return absl::FailedPreconditionError(
      "this server has no audit checkpoint key (HOME/audit/checkpoint.key); restart it with "
      "its home directory");
}

}  // namespace

absl::StatusOr<v1::CreateAuditCheckpointResponse> AuditManager::CreateAuditCheckpoint(
    const v1::CreateAuditCheckpointRequest&) {
  if (signer_ == nullptr) return NoCheckpointKey();
  return MakeAuditCheckpoint(store_, *signer_);
}

absl::StatusOr<v1::VerifyAuditChainResponse> AuditManager::VerifyAuditChain(
    const v1::VerifyAuditChainRequest& req) {
  if (req.has_checkpoint() && signer_ == nullptr) return NoCheckpointKey();
  // In pieces, each its own read: the walk over a big chain holds no snapshot and no reader
  // connection for its whole length (storage::VerifyAuditPiece), and writes go on meanwhile.
  // It covers the chain as it was when the walk began.
  int64_t head = 0;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(head, storage::AuditHeadSequence(db));
    return absl::OkStatus();
  }));
  v1::VerifyAuditChainResponse resp;
  resp.set_intact(true);
  storage::AuditVerifyCursor cursor;
  while (!cursor.done) {
    RETURN_IF_ERROR(store_.Read([&](common::Database& db) {
      return storage::VerifyAuditPiece(db, head, verify_piece_, cursor, resp);
    }));
  }
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    absl::StatusOr<std::string> generation = storage::GetDatabaseGeneration(db);
    if (generation.ok()) resp.set_database_generation(*generation);
    if (!req.has_checkpoint()) return absl::OkStatus();
    return storage::CheckAuditCheckpoint(db, req.checkpoint(), signer_->public_key_pem(), resp);
  }));
  return resp;
}

absl::StatusOr<v1::CreateAuditCheckpointResponse> MakeAuditCheckpoint(
    storage::Store& store, const provisioning::CheckpointSigner& signer) {
  storage::AuditHead head;
  std::string generation;
  RETURN_IF_ERROR(store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(head, storage::ReadAuditHead(db));
    ASSIGN_OR_RETURN(generation, storage::GetDatabaseGeneration(db));
    return absl::OkStatus();
  }));
  return SignAuditCheckpoint(head.sequence, head.hash_hex, generation, store.clock().Now(),
                             signer);
}

absl::StatusOr<v1::CreateAuditCheckpointResponse> SignAuditCheckpoint(
    int64_t sequence, const std::string& head_hash_hex, const std::string& generation,
    absl::Time now, const provisioning::CheckpointSigner& signer) {
  provisioning::CheckpointFacts facts;
  facts.sequence = sequence;
  facts.head_hash_hex = head_hash_hex;
  facts.time_us = common::ToMicros(now);
  facts.database_generation = generation;
  ASSIGN_OR_RETURN(std::string signature, signer.Sign(facts));
  v1::CreateAuditCheckpointResponse resp;
  v1::AuditCheckpoint& c = *resp.mutable_checkpoint();
  c.set_sequence(facts.sequence);
  c.set_head_hash(facts.head_hash_hex);
  *c.mutable_time() = TimeUtil::MicrosecondsToTimestamp(facts.time_us);
  c.set_database_generation(facts.database_generation);
  c.set_key_id(signer.key_id());
  c.set_signature(std::move(signature));
  resp.set_public_key_pem(signer.public_key_pem());
  return resp;
}

}  // namespace camfleet::audit
