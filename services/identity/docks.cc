// Docks: enrollment tokens, dock enrollment and renewal, listing and revocation.

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/csr.h"
#include "provisioning/digest.h"
#include "provisioning/identity.h"
#include "provisioning/revocation.h"
#include "provisioning/supplier_certificate.h"
#include "services/identity/identity_internal.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::identity {

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using storage::WriteTx;
using namespace internal;  // NOLINT(build/namespaces): this folder's shared helpers

namespace {

constexpr char kTokenPrefix[] = "cfe_";
constexpr absl::Duration kDefaultTokenTtl = absl::Hours(24);

absl::Status TokenRefused() {
  return absl::PermissionDeniedError(
      "the enrollment token is unknown, already used or expired; ask an admin for a new one "
      "(camfleet token create)");
}

// A dock whose EnrollDock answer was lost runs `camfleet-dock enroll` again with the key and CSR
// it kept and the same token. The token is spent then, but if it was spent by this dock id with
// this very key (the key of the dock's enrollment certificate), the first call went through: the
// retry gets that certificate back. Anything else (another key, another dock id, an expired
// token, a revoked dock or certificate) is the refusal a used token always gets. Writes nothing.
absl::StatusOr<v1::EnrollDockResponse> ReplayDockEnrollment(common::Database& db,
                                                            const storage::TokenRow& token,
                                                            const std::string& dock_id,
                                                            const std::string& key_fingerprint) {
  if (token.token.used_by_dock() != dock_id) return TokenRefused();
  ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> cert,
                   storage::FindDockEnrollmentCertificate(db, dock_id));
  if (!cert.has_value() || cert->certificate.key_fingerprint() != key_fingerprint ||
      cert->certificate.has_revoke_time()) {
    return TokenRefused();
  }
  absl::StatusOr<storage::DockRow> dock = storage::FindDock(db, dock_id);
  if (absl::IsNotFound(dock.status())) return TokenRefused();
  RETURN_IF_ERROR(dock.status());
  if (dock->revoked) return TokenRefused();
  v1::EnrollDockResponse resp;
  *resp.mutable_certificate() = std::move(cert->certificate);
  *resp.mutable_dock() = std::move(dock->dock);
  return resp;
}

// Answers through `done` with the server's time set on a successful response, read as late as
// possible: the dock measures its clock's offset against it.

}  // namespace

// ---------------------------------------------------------------------- tokens and docks

void IdentityManager::CreateEnrollmentToken(const rpc::Identity& who,
                                            const v1::CreateEnrollmentTokenRequest& req,
                                            Done<v1::CreateEnrollmentTokenResponse> done) {
  absl::Status valid = rpc::ValidateSiteCode("site_code", req.site_code());
  absl::Duration ttl = kDefaultTokenTtl;
  if (valid.ok() && req.has_ttl()) {
    ttl = absl::Seconds(req.ttl().seconds()) + absl::Nanoseconds(req.ttl().nanos());
    if (ttl < absl::Minutes(1) || ttl > absl::Hours(24 * 30)) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("ttl ", absl::FormatDuration(ttl),
                       " is out of range; give between 1 minute and 30 days"));
    }
  }
  if (valid.ok()) valid = rpc::ValidateText("note", req.note(), 0, 1024);
  if (!valid.ok()) return done(valid);
  absl::StatusOr<std::string> secret = provisioning::RandomBytes(32);
  if (!secret.ok()) return done(secret.status());
  const std::string token = absl::StrCat(kTokenPrefix, absl::WebSafeBase64Escape(*secret));
  RunWrite<v1::CreateEnrollmentTokenResponse>(
      [who, req, ttl, token](WriteTx& tx, v1::CreateEnrollmentTokenResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(tx.db(), req.site_code()));
        ASSIGN_OR_RETURN(storage::TokenRow row,
                         storage::InsertToken(tx, TokenHash(token), site.id, req.note(),
                                              common::ToMicros(tx.now() + ttl), who.actor()));
        // The secret never goes into the audit trail; the token id does.
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "token.create", "site", req.site_code(),
                                       {{"token_id", absl::StrCat(row.id)},
                                        {"ttl", absl::FormatDuration(ttl)},
                                        {"note", req.note()}}));
        resp.set_token(token);
        *resp.mutable_enrollment_token() = std::move(row.token);
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListEnrollmentTokensResponse> IdentityManager::ListEnrollmentTokens(
    const v1::ListEnrollmentTokensRequest& req) {
  if (!req.site_code().empty())
    RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  const std::string query = absl::StrCat("tokens|", req.site_code());
  ASSIGN_OR_RETURN(Paging paging, StartPaging(tokens_, query, req.page_size(), req.page_token()));
  v1::ListEnrollmentTokensResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> site, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::EnrollmentToken> tokens,
                     storage::ListTokens(db, site, paging.page));
    resp.set_next_page_token(
        FinishPaging(tokens_, query, paging, tokens,
                     [](const v1::EnrollmentToken& t) { return absl::StrCat(t.id()); }));
    for (v1::EnrollmentToken& t : tokens) *resp.add_enrollment_tokens() = std::move(t);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListDocksResponse> IdentityManager::ListDocks(const v1::ListDocksRequest& req) {
  if (!req.site_code().empty())
    RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  const std::string query = absl::StrCat("docks|", req.site_code(), "|", req.include_revoked());
  ASSIGN_OR_RETURN(Paging paging, StartPaging(tokens_, query, req.page_size(), req.page_token()));
  v1::ListDocksResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> site, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Dock> docks,
                     storage::ListDocks(db, site, req.include_revoked(), paging.page));
    resp.set_next_page_token(
        FinishPaging(tokens_, query, paging, docks, [](const v1::Dock& d) { return d.dock_id(); }));
    for (v1::Dock& d : docks) *resp.add_docks() = std::move(d);
    return absl::OkStatus();
  }));
  return resp;
}

void IdentityManager::RevokeDock(const rpc::Identity& who, const v1::RevokeDockRequest& req,
                                 Done<v1::RevokeDockResponse> done) {
  absl::Status valid = ValidateName("dock_id", req.dock_id());
  if (valid.ok()) valid = ValidateReason(req.reason());
  if (valid.ok()) valid = rpc::ValidateText("note", req.note(), 0, 1024);
  if (!valid.ok()) return done(valid);
  RunRevokingWrite<v1::RevokeDockResponse>(
      [who, req](WriteTx& tx, v1::RevokeDockResponse& resp,
                 RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::DockRow dock, storage::FindDock(tx.db(), req.dock_id()));
        if (dock.revoked) {
          return absl::FailedPreconditionError(
              absl::StrCat("dock '", req.dock_id(), "' is already revoked"));
        }
        RETURN_IF_ERROR(storage::MarkDockRevoked(tx, dock.id));
        // The principal first: from the commit on, every certificate the dock ever held is
        // refused, whatever its serial; then each one still valid is revoked for the CRL.
        batch.principals.emplace_back(Role::kDock, req.dock_id());
        storage::CertificateFilter all;
        all.role = "dock";
        all.identity = req.dock_id();
        ASSIGN_OR_RETURN(size_t count, RevokeMatching(tx, all, req.reason(), who.actor(), batch));
        // A compromised dock may have had cameras certified for keys it holds: every camera
        // certificate it relayed goes with it. (Retired or decommissioned docks' cameras keep
        // theirs: their keys never left the cameras.)
        size_t relayed = 0;
        if (req.reason() == v1::REVOCATION_REASON_KEY_COMPROMISE) {
          storage::CertificateFilter cameras;
          cameras.role = "camera";
          cameras.issued_by = absl::StrCat("dock:", req.dock_id());
          ASSIGN_OR_RETURN(relayed, RevokeMatching(tx, cameras, req.reason(), who.actor(), batch));
        }
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "dock.revoke", "dock", req.dock_id(),
                                       {{"reason", storage::ReasonText(req.reason())},
                                        {"certificates", absl::StrCat(count)},
                                        {"camera_certificates", absl::StrCat(relayed)},
                                        {"note", req.note()}}));
        ASSIGN_OR_RETURN(storage::DockRow after, storage::FindDock(tx.db(), req.dock_id()));
        *resp.mutable_dock() = std::move(after.dock);
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::EnrollDock(const rpc::Identity& who, const v1::EnrollDockRequest& req,
                                 Done<v1::EnrollDockResponse> done) {
  // Its own queue, not the signers': see kMaxQueuedEnrollments.
  ScheduleEnrollment(
      WithServerTime(store_.clock(), std::move(done)),
      [this, who, req](Done<v1::EnrollDockResponse> d) { EnrollDockNow(who, req, std::move(d)); });
}

void IdentityManager::EnrollDockNow(const rpc::Identity&, const v1::EnrollDockRequest& req,
                                    Done<v1::EnrollDockResponse> done) {
  absl::Status valid = rpc::ValidateText("token", req.token(), 1, 128);
  if (valid.ok()) valid = ValidateCsrField(req.csr_pem());
  if (valid.ok() && (req.slot_count() < 0 || req.slot_count() > 256)) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("slot_count is ", req.slot_count(), "; give 0 to 256"));
  }
  if (!valid.ok()) return done(valid);
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::FromPem(req.csr_pem());
  if (!csr.ok())
    return done(absl::InvalidArgumentError(absl::StrCat("csr_pem: ", csr.status().message())));
  absl::StatusOr<std::string> dock_id = csr->CommonName();
  if (!dock_id.ok()) {
    return done(absl::InvalidArgumentError(absl::StrCat("csr_pem: ", dock_id.status().message())));
  }
  if (absl::Status s = rpc::ValidateDockId("csr_pem subject CN (the dock id)", *dock_id); !s.ok()) {
    return done(s);
  }
  absl::StatusOr<std::string> fingerprint = csr->PublicKeyFingerprint();
  if (!fingerprint.ok()) {
    return done(
        absl::InvalidArgumentError(absl::StrCat("csr_pem: ", fingerprint.status().message())));
  }
  const std::string hash = TokenHash(req.token());
  const absl::Time now = store_.clock().Now();
  std::optional<v1::EnrollDockResponse> replay;
  // Whether the token admits this request now: unused and unexpired, or spent by this very
  // enrollment (ReplayDockEnrollment), whose answer is then in `replay`.
  auto check = [&](common::Database& db) -> absl::Status {
    replay.reset();
    ASSIGN_OR_RETURN(std::optional<storage::TokenRow> token, storage::FindTokenByHash(db, hash));
    if (!token.has_value() || token->expires_us <= common::ToMicros(now)) return TokenRefused();
    if (!token->used) return absl::OkStatus();
    ASSIGN_OR_RETURN(replay, ReplayDockEnrollment(db, *token, *dock_id, *fingerprint));
    replay->set_ca_certificate_pem(ca_.CertificatePem());
    return absl::OkStatus();
  };
  // Refuse a bad token before spending a signature on it; the transaction checks again.
  absl::Status precheck = store_.ReadForPrecheck(check);
  // A replayed answer goes back to the dock: it must rest on durable data.
  if (precheck.ok() && replay.has_value()) precheck = store_.Read(check);
  if (!precheck.ok()) return done(precheck);
  if (replay.has_value()) return done(*std::move(replay));
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), Role::kDock, *dock_id);
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::EnrollDockResponse>(
      [this, req, hash, dock_id = *dock_id, fingerprint = *fingerprint, cert = *std::move(cert)](
          WriteTx& tx, v1::EnrollDockResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<storage::TokenRow> token,
                         storage::FindTokenByHash(tx.db(), hash));
        if (!token.has_value() || token->expires_us <= common::ToMicros(tx.now())) {
          return TokenRefused();
        }
        if (token->used) {
          // The same enrollment, sent twice at once: the other call won; this one gets its
          // answer, and the certificate signed here is discarded unseen.
          ASSIGN_OR_RETURN(resp, ReplayDockEnrollment(tx.db(), *token, dock_id, fingerprint));
          resp.set_ca_certificate_pem(ca_.CertificatePem());
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(storage::MarkTokenUsed(tx, token->id, dock_id));
        ASSIGN_OR_RETURN(storage::DockRow dock, storage::InsertDock(tx, dock_id, token->site_id,
                                                                    req.slot_count(), token->id));
        const std::string actor = absl::StrCat("dock:", dock_id);
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, actor)));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "dock.enroll", "dock", dock_id,
                                       {{"site", dock.dock.site_code()},
                                        {"token_id", absl::StrCat(token->id)},
                                        {"certificate", cert.info.serial_hex}}));
        ASSIGN_OR_RETURN(storage::DockRow after, storage::FindDock(tx.db(), dock_id));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        *resp.mutable_dock() = std::move(after.dock);
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::RenewDockCertificate(const rpc::Identity& who,
                                           const v1::RenewDockCertificateRequest& req,
                                           Done<v1::RenewDockCertificateResponse> done) {
  // Signing is CPU work: it waits its turn with enrollments instead of running on a gRPC thread.
  ScheduleSigning(WithServerTime(store_.clock(), std::move(done)),
                  [this, who, req](Done<v1::RenewDockCertificateResponse> d) {
                    RenewDockCertificateNow(who, req, std::move(d));
                  });
}

void IdentityManager::RenewDockCertificateNow(const rpc::Identity& who,
                                              const v1::RenewDockCertificateRequest& req,
                                              Done<v1::RenewDockCertificateResponse> done) {
  if (absl::Status s = ValidateCsrField(req.csr_pem()); !s.ok()) return done(s);
  // Refuse an early renewal (or a recovery with a certificate camfleetd did not record) before
  // spending a signature on it.
  absl::StatusOr<std::optional<v1::Certificate>> replay =
      internal::PrecheckRenewal(store_, who, req.csr_pem());
  if (!replay.ok()) return done(replay.status());
  if (replay->has_value()) {
    v1::RenewDockCertificateResponse resp;
    *resp.mutable_certificate() = **std::move(replay);
    resp.set_ca_certificate_pem(ca_.CertificatePem());
    return done(std::move(resp));
  }
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), Role::kDock, who.name);
  if (!cert.ok()) return done(cert.status());
  RunRevokingWrite<v1::RenewDockCertificateResponse>(
      [this, who, req, cert = *std::move(cert)](WriteTx& tx, v1::RenewDockCertificateResponse& resp,
                                                RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::DockRow dock, storage::FindDock(tx.db(), who.name));
        ASSIGN_OR_RETURN(
            *resp.mutable_certificate(),
            RenewInTransaction(
                tx, who, req.csr_pem(), cert,
                {.principal = "dock",
                 .principal_revoked = dock.revoked,
                 .certificate_role = "dock",
                 .renew_action = "dock.renew_certificate",
                 .recover_action = "dock.recover_certificate",
                 .on_admitted = [&dock](WriteTx& t) { return storage::TouchDock(t, dock.id); }},
                batch));
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace camfleet::identity
