#pragma once
// The audit chain: every change appends one event in the same transaction as the change.
// Each event's hash is SHA-256(previous hash || canonical encoding), where the canonical
// encoding is the fields in a fixed order, each as a big-endian length or integer followed by
// its bytes. Changing, removing or reordering any event breaks every hash after it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

struct AuditRecord {
  std::string actor;
  std::string action;       // e.g. "camera.issue"
  std::string object_type;  // "camera", "site", "holder"
  std::string object_id;
  std::string details_json;  // a JSON object; never secrets
};

// The bytes that are hashed for one event (without the previous hash).
std::string CanonicalEncoding(int64_t seq, int64_t time_us, const AuditRecord& record);

// Appends `record` at the head of the chain. Returns the new sequence number.
absl::StatusOr<int64_t> AppendAudit(WriteTx& tx, const AuditRecord& record);

using AuditDetails = std::vector<std::pair<std::string, std::string>>;
// AppendAudit with the details given as ordered key/value pairs (see JsonObject).
absl::Status Audit(WriteTx& tx, std::string actor, std::string action, std::string object_type,
                   std::string object_id, const AuditDetails& details);

struct AuditFilter {
  std::string object_id;
  std::string actor;
  std::string action;
  std::optional<int64_t> start_us;
  std::optional<int64_t> end_us;
  int64_t after_seq = 0;
  int limit = 100;
};

// Events matching `filter` with seq > after_seq, in sequence order, at most `limit`. Each
// filter seeks on its index (tests/unit/storage/list_plan_test.cc holds it to that).
absl::StatusOr<std::vector<v1::AuditEvent>> ListAudit(common::Database& db,
                                                      const AuditFilter& filter);

// Recomputes the whole chain, in one read.
absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAudit(common::Database& db);

// Where a verification done in pieces stands. The chain is append-only, so it can be checked a
// piece at a time, each piece in its own read transaction: no snapshot is held for the whole
// walk (a long-lived snapshot keeps checkpoints from recycling the WAL, which then grows for as
// long as the walk takes) and no reader connection is held for it either.
struct AuditVerifyCursor {
  int64_t next_seq = 1;
  std::string prev_hash;  // of the event before next_seq; empty before the first
  bool done = false;      // the chain up to `last_seq` is checked, or a break was found
};
// Checks up to `max_events` events from cursor.next_seq on, none after `last_seq` (the head
// when the walk began), adding what it finds to `result` (start with intact=true). Sets
// cursor.done at the end or at the first break.
absl::Status VerifyAuditPiece(common::Database& db, int64_t last_seq, int max_events,
                              AuditVerifyCursor& cursor, v1::VerifyAuditChainResponse& result);
// The sequence of the newest event (0 for an empty chain).
absl::StatusOr<int64_t> AuditHeadSequence(common::Database& db);

// The newest event's sequence and hash (lower-case hex): 0 and 64 zeros for an empty chain.
struct AuditHead {
  int64_t sequence = 0;
  std::string hash_hex;
};
absl::StatusOr<AuditHead> ReadAuditHead(common::Database& db);

// Compares the chain in `db` with a signed checkpoint (see provisioning/audit_checkpoint.h),
// after the chain itself was verified into `result`. Only when `result` is still intact: a
// signature that does not verify with `public_key_pem` (the server's checkpoint key), a chain
// that ends before the checkpoint's sequence (a cut tail, or an older copy of the database), or
// an event at that sequence with another hash (a rewritten or replaced chain) set intact=false,
// first_broken_sequence and problem; a match sets checkpoint_matched. Errors: INVALID_ARGUMENT
// for a malformed checkpoint or key; SQLite errors.
absl::Status CheckAuditCheckpoint(common::Database& db, const v1::AuditCheckpoint& checkpoint,
                                  absl::string_view public_key_pem,
                                  v1::VerifyAuditChainResponse& result);

// Builds a JSON object from key/value pairs of strings, with proper escaping, keys in the
// order given (deterministic).
std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace camfleet::storage
