#pragma once
// What the parts of IdentityManager (operators.cc, docks.cc, camera_certificates.cc,
// revocation.cc) share: request checks, the certificate record, and the member templates that
// run writes and schedule signing. Internal to services/identity.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "camfleet/v1/provisioning.pb.h"
#include "common/clock.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/page_token.h"
#include "services/storage/identity_repository.h"

namespace camfleet::identity {
namespace internal {

// INVALID_ARGUMENT unless `reason` is a revocation reason (not UNSPECIFIED).
absl::Status ValidateReason(v1::RevocationReason reason);
// INVALID_ARGUMENT naming `field` unless `name` is a valid identity.
absl::Status ValidateName(absl::string_view field, absl::string_view name);
// INVALID_ARGUMENT unless `csr_pem` is present and at most 16 KiB.
absl::Status ValidateCsrField(absl::string_view csr_pem);
// A serial as the store keeps it (lower-case hex without leading zeros; supplier serials as
// given).
std::string StoredSerial(absl::string_view serial);
// SHA-256 of an enrollment token's secret, as stored.
std::string TokenHash(absl::string_view token);
// Not revoked and not past not_after + grace.
bool CertificateUsable(const v1::Certificate& c, absl::Time now, absl::Duration grace);
// Revokes every certificate matching `filter` (role, identity, issued_by) that is not revoked
// yet, however many, except the one with serial `keep` (if given). Returns how many.
absl::StatusOr<size_t> RevokeMatching(storage::WriteTx& tx, storage::CertificateFilter filter,
                                      v1::RevocationReason reason, const std::string& actor,
                                      RevocationBatch& batch, const std::string& keep = "");
// Refuses (FAILED_PRECONDITION) a renewal presented with certificate `serial` before its
// renewal window opens (provisioning::RenewalDueAt, less the clock-skew allowance).
absl::Status CheckRenewalWindow(common::Database& db, const std::string& serial, absl::Time now);

// A recovery renewal (who.recovering(): the certificate presented chains to the root through
// an issuing CA the root revoked, so a thief holding that CA's key could have made it). It
// counts only if it is exactly a certificate camfleetd issued and recorded (the DER fingerprint
// of the one recorded under its serial is the same) and that is not revoked: nullopt then, and
// the renewal goes ahead, whatever its renewal window. A recovery renewal supersedes the
// certificate it renews, so it happens once; but if the certificate is revoked as superseded
// and a certificate recorded for the same role and identity, not revoked, is for the CSR's key,
// this is a retry whose answer was lost: that certificate is returned (the CSR proves its key).
// UNAUTHENTICATED otherwise, saying why and what to do.
absl::StatusOr<std::optional<storage::CertificateRow>> CheckRecovery(common::Database& db,
                                                                     const rpc::Identity& who,
                                                                     const std::string& csr_pem);
// The checks a renewal makes before spending a signature (the write checks again): its
// renewal window, or for a recovery renewal CheckRecovery. A recovery whose answer was lost
// gets that certificate back (nullopt: go on and sign), read again once the store is durable,
// since the answer goes back to the caller.
absl::StatusOr<std::optional<v1::Certificate>> PrecheckRenewal(storage::Store& store,
                                                               const rpc::Identity& who,
                                                               const std::string& csr_pem);
// The audit fields of a recovery renewal: the revoked issuing CA the certificate came from.
std::string RecoveredIssuer(const rpc::Identity& who);

// Where a dock's renewal and an operator's differ inside the write transaction
// (RenewInTransaction).
struct RenewalOptions {
  // "dock" or "operator": names the principal in the refusal ("dock 'd1' is revoked") and is
  // the audit event's target type (its id: the principal's name).
  std::string principal;
  // The principal as this transaction reads it (DockRow::revoked, OperatorRow's revoke_time).
  bool principal_revoked = false;
  // The role (storage::RoleText) of the principal's certificates: every one of that role and
  // the principal's name but the one presented is superseded.
  std::string certificate_role;
  // The audit actions: "dock.renew_certificate" and "dock.recover_certificate", say.
  std::string renew_action;
  std::string recover_action;
  // Runs once the renewal passed every check and is not a recovery's lost answer, before other
  // certificates are superseded: a dock's contact time, say. None if empty.
  std::function<absl::Status(storage::WriteTx&)> on_admitted;
};

// The part of a dock's or an operator's renewal that runs inside its write transaction, after
// `cert` was signed for `csr_pem` and the principal read (RenewalOptions), checking again what
// the precheck checked, in this order:
// - the principal revoked by now: UNAUTHENTICATED ("<principal> '<name>' is revoked");
// - a recovery renewal: CheckRecovery again; if another call made this very recovery
//   meanwhile, the certificate it recorded is returned and nothing is written (`cert` is
//   discarded unseen);
// - otherwise the renewal window of the certificate presented (CheckRenewalWindow).
// Then on_admitted, every other certificate of the principal superseded (the one presented
// too for a recovery: it recovers once) into `batch`, `cert` recorded, and its audit event
// written. Returns the certificate to answer with.
absl::StatusOr<v1::Certificate> RenewInTransaction(storage::WriteTx& tx, const rpc::Identity& who,
                                                   const std::string& csr_pem,
                                                   const provisioning::IssuedCertificate& cert,
                                                   const RenewalOptions& options,
                                                   RevocationBatch& batch);

// Paging for lists in key order (issue 11, item 10: every list method pages): the page size
// resolved, and the cursor decoded from `token` for `query` (the method and its filters).
// `Finish` trims the extra row fetched and sets the next token from the last row's key.
struct Paging {
  int limit = 0;
  storage::KeyPage page;  // limit + 1 rows: one more says there is a next page
};
absl::StatusOr<Paging> StartPaging(const rpc::PageTokens& tokens, const std::string& query,
                                   int32_t page_size, const std::string& token);
template <typename Row, typename KeyOf>
std::string FinishPaging(const rpc::PageTokens& tokens, const std::string& query,
                         const Paging& paging, std::vector<Row>& rows, KeyOf key_of) {
  if (static_cast<int>(rows.size()) <= paging.limit) return "";
  rows.resize(static_cast<size_t>(paging.limit));
  return tokens.Encode(query, key_of(rows.back()));
}

// Answers through `done` with the server's time set on a successful response, read as late as
// possible: the dock measures its clock's offset against it.
template <typename Resp>
Done<Resp> WithServerTime(const common::Clock& clock, Done<Resp> done) {
  return [&clock, done = std::move(done)](absl::StatusOr<Resp> resp) mutable {
    if (resp.ok()) {
      *resp->mutable_server_time() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(clock.Now()));
    }
    done(std::move(resp));
  };
}

}  // namespace internal

template <typename Resp, typename Fn>
void IdentityManager::RunWrite(Fn fn, Done<Resp> done) {
  storage::WriteWithResponse<Resp>(store_, std::move(fn), std::move(done));
}

template <typename Resp, typename Fn>
void IdentityManager::RunRevokingWrite(Fn fn, Done<Resp> done) {
  auto batch = std::make_shared<RevocationBatch>();
  storage::WriteWithResponse<Resp>(
      store_,
      [fn = std::move(fn), batch](storage::WriteTx& tx, Resp& resp) mutable -> absl::Status {
        RevocationBatch mine;
        absl::Status s = fn(tx, resp, mine);
        if (s.ok()) *batch = std::move(mine);
        return s;
      },
      [this, batch, done = std::move(done)](absl::StatusOr<Resp> resp) mutable {
        if (resp.ok()) batch->ApplyTo(revoked_);
        done(std::move(resp));
      });
}

template <typename Resp, typename Now>
void IdentityManager::ScheduleSigning(Done<Resp> done, Now now) {
  if (signers_.queued() >= kMaxQueuedSignings) {
    return done(absl::UnavailableError(
        absl::StrCat("camfleetd is busy: ", kMaxQueuedSignings,
                     " certificate requests are waiting to be signed; retry with backoff")));
  }
  signers_.Schedule([now = std::move(now), done = std::move(done),
                     intent = store_.AnnounceWrite()]() mutable { now(std::move(done)); });
}

template <typename Resp, typename Now>
void IdentityManager::ScheduleEnrollment(Done<Resp> done, Now now) {
  if (enrollers_.queued() >= kMaxQueuedEnrollments) {
    return done(
        absl::UnavailableError(absl::StrCat("camfleetd is busy: ", kMaxQueuedEnrollments,
                                            " enrollments are waiting; retry with backoff")));
  }
  // No AnnounceWrite: most of a flood is refused before it writes, and the writer must not hold
  // its groups open for writes that never come.
  enrollers_.Schedule(
      [now = std::move(now), done = std::move(done)]() mutable { now(std::move(done)); });
}

}  // namespace camfleet::identity
