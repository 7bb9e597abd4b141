#include "services/identity/identity_manager.h"

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
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::identity {
namespace {

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using storage::WriteTx;

constexpr char kCrlNumberSetting[] = "crl_number";
constexpr char kTokenPrefix[] = "cfe_";
constexpr absl::Duration kCrlLifetime = absl::Hours(24 * 7);
constexpr absl::Duration kCrlRefresh = absl::Hours(24);
constexpr absl::Duration kDefaultTokenTtl = absl::Hours(24);

provisioning::RevocationReason ToCrlReason(v1::RevocationReason reason) {
  switch (reason) {
    case v1::REVOCATION_REASON_KEY_COMPROMISE:
      return provisioning::RevocationReason::kKeyCompromise;
    case v1::REVOCATION_REASON_AFFILIATION_CHANGED:
      return provisioning::RevocationReason::kAffiliationChanged;
    case v1::REVOCATION_REASON_SUPERSEDED:
      return provisioning::RevocationReason::kSuperseded;
    case v1::REVOCATION_REASON_CESSATION_OF_OPERATION:
      return provisioning::RevocationReason::kCessationOfOperation;
    case v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN:
      return provisioning::RevocationReason::kPrivilegeWithdrawn;
    default:
      return provisioning::RevocationReason::kUnspecified;
  }
}

absl::Status ValidateReason(v1::RevocationReason reason) {
  if (reason == v1::REVOCATION_REASON_UNSPECIFIED || !v1::RevocationReason_IsValid(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason ", static_cast<int>(reason),
        " is not a revocation reason; use KEY_COMPROMISE, AFFILIATION_CHANGED, SUPERSEDED, "
        "CESSATION_OF_OPERATION or PRIVILEGE_WITHDRAWN"));
  }
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  absl::Status s = provisioning::ValidateIdentity(name);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  return absl::OkStatus();
}

absl::Status ValidateCsrField(absl::string_view csr_pem) {
  if (csr_pem.empty()) {
    return absl::InvalidArgumentError(
        "csr_pem is required: a PEM certificate request made with the subject's own key");
  }
  if (csr_pem.size() > 16 * 1024) {
    return absl::InvalidArgumentError("csr_pem is larger than 16 KiB; it is not a CSR");
  }
  return absl::OkStatus();
}

// Fleet serials are stored as CertificateInfo::serial_hex: lower-case hex without leading
// zeros. Accept one as openssl prints it (upper case, a leading zero); a supplier serial
// ("acme:1092") is kept as given.
std::string StoredSerial(absl::string_view serial) {
  for (char c : serial) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::string(serial);
  }
  std::string lower = absl::AsciiStrToLower(serial);
  const size_t first = lower.find_first_not_of('0');
  return first == std::string::npos ? "0" : lower.substr(first);
}

storage::CertificateRecord ToRecord(const provisioning::IssuedCertificate& cert,
                                    const std::string& issued_by) {
  storage::CertificateRecord r;
  r.serial = cert.info.serial_hex;
  r.role = std::string(provisioning::RoleName(cert.info.role));
  r.identity = cert.info.identity;
  r.subject = absl::StrCat("CN=", cert.info.subject_cn);
  r.key_fingerprint = cert.info.key_fingerprint;
  r.not_before_us = common::ToMicros(cert.info.not_before);
  r.not_after_us = common::ToMicros(cert.info.not_after);
  r.pem = cert.pem;
  r.issued_by = issued_by;
  return r;
}

std::string TokenHash(absl::string_view token) {
  provisioning::Sha256Digest d = provisioning::Sha256(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

bool CertificateUsable(const v1::Certificate& c, absl::Time now, absl::Duration grace) {
  if (c.has_revoke_time()) return false;
  return now <= absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(c.not_after())) + grace;
}

// Everything a dock's request about one camera rests on, read in one snapshot.
struct CameraContext {
  storage::DockRow dock;
  storage::CameraRow camera;
  std::optional<storage::CertificateRow> certificate;
};

absl::StatusOr<CameraContext> LoadCameraContext(common::Database& db, const rpc::Identity& who,
                                                const std::string& serial) {
  CameraContext ctx;
  absl::StatusOr<storage::DockRow> dock = storage::FindDock(db, who.name);
  if (absl::IsNotFound(dock.status())) {
    return absl::PermissionDeniedError(
        absl::StrCat("dock '", who.name, "' has a certificate but is not enrolled"));
  }
  RETURN_IF_ERROR(dock.status());
  ctx.dock = *std::move(dock);
  if (ctx.dock.revoked) {
    return absl::UnauthenticatedError(absl::StrCat("dock '", who.name, "' is revoked"));
  }
  ASSIGN_OR_RETURN(ctx.camera, storage::FindCamera(db, serial));
  if (ctx.camera.site_id != ctx.dock.site_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("camera '", serial, "' belongs to site ", ctx.camera.camera.site_code(),
                     "; dock '", who.name, "' serves site ", ctx.dock.dock.site_code(),
                     " and acts only for its own site's cameras"));
  }
  ASSIGN_OR_RETURN(ctx.certificate, storage::FindCameraCertificate(db, ctx.camera.id));
  return ctx;
}

// Whether a camera may enroll now (`renewal` false) or renew its certificate (true).
absl::Status CheckCameraEligible(const CameraContext& ctx, bool renewal, absl::Time now) {
  const std::string& serial = ctx.camera.camera.serial();
  const v1::CameraState state = ctx.camera.camera.state();
  const absl::string_view state_name = storage::StateName(state);
  if (state == v1::CAMERA_STATE_LOST || state == v1::CAMERA_STATE_RETIRED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "camera '", serial, "' is ", state_name, "; it is refused at every dock",
        state == v1::CAMERA_STATE_LOST ? " until a quartermaster reports it found" : ""));
  }
  const bool usable =
      ctx.certificate.has_value() &&
      CertificateUsable(
          ctx.certificate->certificate, now,
          renewal ? provisioning::ProfileFor(Role::kCamera).renewal_grace : absl::ZeroDuration());
  if (renewal) {
    if (!usable) {
      return absl::FailedPreconditionError(absl::StrCat(
          "camera '", serial,
          "' has no valid certificate to renew (never enrolled, revoked, or expired past its "
          "grace); enroll it instead"));
    }
    return absl::OkStatus();
  }
  if (state != v1::CAMERA_STATE_REGISTERED && state != v1::CAMERA_STATE_AVAILABLE) {
    return absl::FailedPreconditionError(
        absl::StrCat("camera '", serial, "' is ", state_name,
                     "; enrollment needs REGISTERED, or AVAILABLE without a valid certificate"));
  }
  if (usable) {
    return absl::FailedPreconditionError(absl::StrCat(
        "camera '", serial, "' is already enrolled (certificate ",
        ctx.certificate->certificate.serial(),
        "); an admin must reset its enrollment first (camfleet camera reset-enrollment)"));
  }
  return absl::OkStatus();
}

// A dock on a bad link may not get the answer to an enrollment or renewal it sent, and retries
// with the same CSR (the camera keeps its pending key until a certificate is installed). If the
// camera's current certificate was issued by this dock for exactly that key and is still
// usable, the first call went through: the retry gets the same certificate back instead of a
// refusal ("already enrolled") or a second certificate for one key. Nothing is written then.
absl::StatusOr<std::optional<v1::Certificate>> AlreadyIssuedForThisKey(const CameraContext& ctx,
                                                                       const rpc::Identity& who,
                                                                       const std::string& csr_pem,
                                                                       absl::Time now) {
  if (!ctx.certificate.has_value()) return std::nullopt;
  const v1::Certificate& current = ctx.certificate->certificate;
  if (current.issued_by() != who.actor() ||
      !CertificateUsable(current, now, absl::ZeroDuration())) {
    return std::nullopt;
  }
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::FromPem(csr_pem);
  if (!csr.ok()) return std::nullopt;  // Sign reports a bad CSR precisely
  absl::StatusOr<std::string> fingerprint = csr->PublicKeyFingerprint();
  if (!fingerprint.ok() || *fingerprint != current.key_fingerprint()) return std::nullopt;
  return current;
}

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
template <typename Resp>
Done<Resp> WithServerTime(const common::Clock& clock, Done<Resp> done) {
  return [&clock, done = std::move(done)](absl::StatusOr<Resp> resp) mutable {
    if (resp.ok()) {
      *resp->mutable_server_time() =
          TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(clock.Now()));
    }
    done(std::move(resp));
  };
}

}  // namespace

absl::Status LoadRevocations(storage::Store& store, rpc::RevocationSet& set) {
  return store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::RevokedEntry> revoked, storage::ListRevoked(db));
    for (const storage::RevokedEntry& r : revoked) set.Add(r.serial);
    return absl::OkStatus();
  });
}

absl::Status RevokeInTransaction(WriteTx& tx, const storage::CertificateRow& cert,
                                 v1::RevocationReason reason, const std::string& revoked_by,
                                 rpc::RevocationSet& set) {
  RETURN_IF_ERROR(storage::RevokeCertificate(tx, cert.id, reason, revoked_by));
  // Only once the revocation is committed: a revocation rolled back (its write failed later,
  // or its group's transaction was lost) must not leave the certificate refused in memory.
  tx.AfterCommit([&set, serial = cert.certificate.serial()] { set.Add(serial); });
  return storage::Audit(tx, revoked_by, "certificate.revoke", "certificate",
                        cert.certificate.serial(),
                        {{"role", storage::RoleText(cert.certificate.role())},
                         {"identity", cert.certificate.identity()},
                         {"reason", storage::ReasonText(reason)}});
}

absl::StatusOr<storage::CertificateRow> ImportFactoryCertificate(WriteTx& tx,
                                                                 const std::string& serial,
                                                                 const std::string& pem,
                                                                 const std::string& actor) {
  ASSIGN_OR_RETURN(std::vector<storage::SupplierCaRow> cas, storage::ListSupplierCas(tx.db()));
  if (cas.empty()) {
    return absl::FailedPreconditionError(
        "no supplier CA is configured, so a factory certificate cannot be checked; an admin "
        "adds one with `camfleet supplier-ca add`");
  }
  std::vector<std::string> reasons;
  for (const storage::SupplierCaRow& ca : cas) {
    absl::StatusOr<provisioning::CertificateInfo> info =
        provisioning::VerifyIssuedBy(pem, ca.pem, serial, tx.now());
    if (!info.ok()) {
      reasons.push_back(absl::StrCat(ca.ca.name(), ": ", info.status().message()));
      continue;
    }
    storage::CertificateRecord r;
    // Supplier serials live in the supplier's namespace, so they are kept apart from ours.
    r.serial = absl::StrCat(ca.ca.name(), ":", info->serial_hex);
    r.role = "camera";
    r.identity = serial;
    r.subject = absl::StrCat("CN=", info->subject_cn);
    r.key_fingerprint = info->key_fingerprint;
    r.not_before_us = common::ToMicros(info->not_before);
    r.not_after_us = common::ToMicros(info->not_after);
    r.pem = pem;
    r.issued_by = absl::StrCat("supplier:", ca.ca.name());
    r.source = "supplier";
    ASSIGN_OR_RETURN(storage::CertificateRow row, storage::InsertCertificate(tx, r));
    RETURN_IF_ERROR(storage::Audit(tx, actor, "camera.import_factory_certificate", "camera", serial,
                                   {{"supplier", ca.ca.name()}, {"certificate", r.serial}}));
    return row;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("factory_certificate_pem is not accepted by any supplier CA: ",
                   absl::StrJoin(reasons, "; ")));
}

// Revokes every valid certificate of `role`/`identity` (an operator or dock being removed).
absl::StatusOr<size_t> RevokeAllCertificates(WriteTx& tx, const std::string& role,
                                             const std::string& identity,
                                             v1::RevocationReason reason, const std::string& actor,
                                             rpc::RevocationSet& set) {
  storage::CertificateFilter filter;
  filter.role = role;
  filter.identity = identity;
  filter.limit = 1000;
  ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> certs,
                   storage::ListCertificates(tx.db(), filter));
  for (const storage::CertificateRow& c : certs) {
    RETURN_IF_ERROR(RevokeInTransaction(tx, c, reason, actor, set));
  }
  return certs.size();
}

template <typename Resp, typename Fn>
void IdentityManager::RunWrite(Fn fn, Done<Resp> done) {
  storage::WriteWithResponse<Resp>(store_, std::move(fn), std::move(done));
}

absl::StatusOr<provisioning::IssuedCertificate> IdentityManager::Sign(
    const std::string& csr_pem, Role role, const std::string& identity) const {
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::FromPem(csr_pem));
  provisioning::IssueRequest request;
  request.role = role;
  request.identity = identity;
  absl::StatusOr<provisioning::IssuedCertificate> issued =
      ca_.Issue(csr, request, store_.clock().Now());
  if (!issued.ok() && absl::IsInvalidArgument(issued.status())) {
    return absl::InvalidArgumentError(absl::StrCat("csr_pem: ", issued.status().message()));
  }
  return issued;
}

// ------------------------------------------------------------------------------ operators

void IdentityManager::IssueOperatorCertificate(const rpc::Identity& who,
                                               const v1::IssueOperatorCertificateRequest& req,
                                               Done<v1::IssueOperatorCertificateResponse> done) {
  absl::Status valid = rpc::ValidateOperatorName("name", req.name());
  Role role = Role::kAdmin;
  if (valid.ok()) {
    switch (req.role()) {
      case v1::ROLE_ADMIN:
        role = Role::kAdmin;
        break;
      case v1::ROLE_QUARTERMASTER:
        role = Role::kQuartermaster;
        break;
      case v1::ROLE_AUDITOR:
        role = Role::kAuditor;
        break;
      default:
        valid = absl::InvalidArgumentError(
            absl::StrCat("role ", static_cast<int>(req.role()),
                         " is not an operator role; use ADMIN, QUARTERMASTER or AUDITOR"));
    }
  }
  if (valid.ok()) valid = ValidateCsrField(req.csr_pem());
  if (!valid.ok()) return done(valid);
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), role, req.name());
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::IssueOperatorCertificateResponse>(
      [this, who, req, role, cert = *std::move(cert)](
          WriteTx& tx, v1::IssueOperatorCertificateResponse& resp) -> absl::Status {
        const std::string role_text(provisioning::RoleName(role));
        absl::StatusOr<storage::OperatorRow> op = storage::FindOperator(tx.db(), req.name());
        if (op.ok()) {
          if (op->op.has_revoke_time()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "operator '", req.name(), "' was revoked; issue credentials under a new name"));
          }
          if (op->op.role() != req.role()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "operator '", req.name(), "' has role ", storage::RoleText(op->op.role()),
                "; revoke the operator first to change the role"));
          }
        } else if (absl::IsNotFound(op.status())) {
          RETURN_IF_ERROR(storage::InsertOperator(tx, req.name(), role_text, who.actor()).status());
        } else {
          return op.status();
        }
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, ToRecord(cert, who.actor())));
        RETURN_IF_ERROR(storage::Audit(
            tx, who.actor(), "operator.issue_certificate", "operator", req.name(),
            {{"role", role_text},
             {"certificate", cert.info.serial_hex},
             {"not_after",
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", cert.info.not_after, absl::UTCTimeZone())}}));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::RenewOperatorCertificate(const rpc::Identity& who,
                                               const v1::RenewOperatorCertificateRequest& req,
                                               Done<v1::RenewOperatorCertificateResponse> done) {
  if (!provisioning::IsOperator(who.role)) {
    return done(absl::FailedPreconditionError("only operators renew with this call"));
  }
  if (absl::Status s = ValidateCsrField(req.csr_pem()); !s.ok()) return done(s);
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), who.role, who.name);
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::RenewOperatorCertificateResponse>(
      [this, who, cert = *std::move(cert)](
          WriteTx& tx, v1::RenewOperatorCertificateResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::OperatorRow op, storage::FindOperator(tx.db(), who.name));
        if (op.op.has_revoke_time()) {
          return absl::UnauthenticatedError(absl::StrCat("operator '", who.name, "' is revoked"));
        }
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, ToRecord(cert, who.actor())));
        RETURN_IF_ERROR(storage::Audit(
            tx, who.actor(), "operator.renew_certificate", "operator", who.name,
            {{"certificate", cert.info.serial_hex}, {"previous", who.certificate_serial}}));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListOperatorsResponse> IdentityManager::ListOperators(
    const v1::ListOperatorsRequest& req) {
  v1::ListOperatorsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::OperatorRow> ops,
                     storage::ListOperators(db, req.include_revoked()));
    for (storage::OperatorRow& op : ops) {
      storage::CertificateFilter filter;
      filter.role = storage::RoleText(op.op.role());
      filter.identity = op.op.name();
      filter.include_revoked = true;
      filter.limit = 20;
      ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> certs,
                       storage::ListCertificates(db, filter));
      for (storage::CertificateRow& c : certs) {
        c.certificate.clear_certificate_pem();
        *op.op.add_certificates() = std::move(c.certificate);
      }
      *resp.add_operators() = std::move(op.op);
    }
    return absl::OkStatus();
  }));
  return resp;
}

void IdentityManager::RevokeOperator(const rpc::Identity& who, const v1::RevokeOperatorRequest& req,
                                     Done<v1::RevokeOperatorResponse> done) {
  absl::Status valid = ValidateName("name", req.name());
  if (valid.ok()) valid = ValidateReason(req.reason());
  if (valid.ok()) valid = rpc::ValidateText("note", req.note(), 0, 1024);
  if (!valid.ok()) return done(valid);
  RunWrite<v1::RevokeOperatorResponse>(
      [this, who, req](WriteTx& tx, v1::RevokeOperatorResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::OperatorRow op, storage::FindOperator(tx.db(), req.name()));
        if (op.op.has_revoke_time()) {
          return absl::FailedPreconditionError(
              absl::StrCat("operator '", req.name(), "' is already revoked"));
        }
        RETURN_IF_ERROR(storage::MarkOperatorRevoked(tx, op.id));
        ASSIGN_OR_RETURN(size_t count,
                         RevokeAllCertificates(tx, storage::RoleText(op.op.role()), req.name(),
                                               req.reason(), who.actor(), revoked_));
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "operator.revoke", "operator", req.name(),
                                       {{"reason", storage::ReasonText(req.reason())},
                                        {"certificates", absl::StrCat(count)},
                                        {"note", req.note()}}));
        ASSIGN_OR_RETURN(storage::OperatorRow after, storage::FindOperator(tx.db(), req.name()));
        storage::CertificateFilter revoked_filter;
        revoked_filter.role = storage::RoleText(after.op.role());
        revoked_filter.identity = req.name();
        revoked_filter.include_revoked = true;
        ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> certs,
                         storage::ListCertificates(tx.db(), revoked_filter));
        for (storage::CertificateRow& c : certs) {
          c.certificate.clear_certificate_pem();
          *after.op.add_certificates() = std::move(c.certificate);
        }
        *resp.mutable_operator_() = std::move(after.op);
        return absl::OkStatus();
      },
      std::move(done));
}

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
  v1::ListEnrollmentTokensResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> site, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::EnrollmentToken> tokens, storage::ListTokens(db, site));
    for (v1::EnrollmentToken& t : tokens) *resp.add_enrollment_tokens() = std::move(t);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListDocksResponse> IdentityManager::ListDocks(const v1::ListDocksRequest& req) {
  if (!req.site_code().empty())
    RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  v1::ListDocksResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> site, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Dock> docks,
                     storage::ListDocks(db, site, req.include_revoked()));
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
  RunWrite<v1::RevokeDockResponse>(
      [this, who, req](WriteTx& tx, v1::RevokeDockResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::DockRow dock, storage::FindDock(tx.db(), req.dock_id()));
        if (dock.revoked) {
          return absl::FailedPreconditionError(
              absl::StrCat("dock '", req.dock_id(), "' is already revoked"));
        }
        RETURN_IF_ERROR(storage::MarkDockRevoked(tx, dock.id));
        ASSIGN_OR_RETURN(size_t count, RevokeAllCertificates(tx, "dock", req.dock_id(),
                                                             req.reason(), who.actor(), revoked_));
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "dock.revoke", "dock", req.dock_id(),
                                       {{"reason", storage::ReasonText(req.reason())},
                                        {"certificates", absl::StrCat(count)},
                                        {"note", req.note()}}));
        ASSIGN_OR_RETURN(storage::DockRow after, storage::FindDock(tx.db(), req.dock_id()));
        *resp.mutable_dock() = std::move(after.dock);
        return absl::OkStatus();
      },
      std::move(done));
}

// --------------------------------------------------------------------------- certificates

absl::StatusOr<v1::ListCertificatesResponse> IdentityManager::ListCertificates(
    const v1::ListCertificatesRequest& req) {
  storage::CertificateFilter filter;
  if (!v1::Role_IsValid(req.role())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "role ", req.role(), " is not a role; use ADMIN, QUARTERMASTER, AUDITOR, DOCK or CAMERA"));
  }
  if (req.role() != v1::ROLE_UNSPECIFIED) filter.role = storage::RoleText(req.role());
  RETURN_IF_ERROR(rpc::ValidateText("identity", req.identity(), 0, 64));
  filter.identity = req.identity();
  filter.include_revoked = req.include_revoked();
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query =
      absl::StrCat("certificates|", filter.role, "|", filter.identity, "|", filter.include_revoked);
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  if (!cursor.empty()) {
    int64_t before = 0;
    if (!absl::SimpleAtoi(cursor, &before)) {
      return absl::InvalidArgumentError("page_token is malformed; start again without it");
    }
    filter.before_id = before;
  }
  filter.limit = limit + 1;
  v1::ListCertificatesResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> rows,
                     storage::ListCertificates(db, filter));
    if (static_cast<int>(rows.size()) > limit) {
      rows.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(rows.back().id)));
    }
    for (storage::CertificateRow& r : rows) *resp.add_certificates() = std::move(r.certificate);
    return absl::OkStatus();
  }));
  return resp;
}

void IdentityManager::RevokeCertificate(const rpc::Identity& who,
                                        const v1::RevokeCertificateRequest& req,
                                        Done<v1::RevokeCertificateResponse> done) {
  absl::Status valid = rpc::ValidateText("serial", req.serial(), 1, 64);
  if (valid.ok()) valid = ValidateReason(req.reason());
  if (valid.ok()) valid = rpc::ValidateText("note", req.note(), 0, 1024);
  if (!valid.ok()) return done(valid);
  RunWrite<v1::RevokeCertificateResponse>(
      [this, who, req, serial = StoredSerial(req.serial())](
          WriteTx& tx, v1::RevokeCertificateResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::CertificateRow cert, storage::FindCertificate(tx.db(), serial));
        if (cert.certificate.has_revoke_time()) {
          return absl::FailedPreconditionError(
              absl::StrCat("certificate ", serial, " is already revoked"));
        }
        RETURN_IF_ERROR(RevokeInTransaction(tx, cert, req.reason(), who.actor(), revoked_));
        ASSIGN_OR_RETURN(storage::CertificateRow after, storage::FindCertificate(tx.db(), serial));
        *resp.mutable_certificate() = std::move(after.certificate);
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::GetCrl(const v1::GetCrlRequest&, Done<v1::GetCrlResponse> done) {
  const uint64_t generation = revoked_.generation();
  const absl::Time now = store_.clock().Now();
  {
    absl::MutexLock lock(&crl_mu_);
    if (crl_ != nullptr && crl_->generation == generation && now - crl_->made < kCrlRefresh) {
      return done(crl_->response);
    }
  }
  // A new CRL takes the next CRL number, which must never repeat: it is counted in the store.
  RunWrite<v1::GetCrlResponse>(
      [this](WriteTx& tx, v1::GetCrlResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         storage::GetSetting(tx.db(), kCrlNumberSetting));
        uint64_t number = 0;
        if (stored.has_value() && !absl::SimpleAtoi(*stored, &number)) {
          return absl::InternalError("the stored CRL number is corrupt");
        }
        ++number;
        RETURN_IF_ERROR(storage::PutSetting(tx.db(), kCrlNumberSetting, absl::StrCat(number)));
        ASSIGN_OR_RETURN(std::vector<storage::RevokedEntry> entries, storage::ListRevoked(tx.db()));
        std::vector<provisioning::RevokedCertificate> revoked;
        for (const storage::RevokedEntry& e : entries) {
          // Supplier certificates are not ours to list; only the fleet CA's serials go in.
          if (e.serial.find(':') != std::string::npos) continue;
          revoked.push_back({e.serial, common::FromMicros(e.revoked_us), ToCrlReason(e.reason)});
        }
        const absl::Time this_update = tx.now();
        ASSIGN_OR_RETURN(std::string pem,
                         ca_.MakeCrl(revoked, this_update, this_update + kCrlLifetime, number));
        resp.set_crl_pem(std::move(pem));
        resp.set_crl_number(static_cast<int64_t>(number));
        *resp.mutable_this_update() =
            TimeUtil::MicrosecondsToTimestamp(common::ToMicros(this_update));
        *resp.mutable_next_update() =
            TimeUtil::MicrosecondsToTimestamp(common::ToMicros(this_update + kCrlLifetime));
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      // Cached only once committed, so a CRL number that was never stored is never served.
      [this, generation,
       done = std::move(done)](absl::StatusOr<v1::GetCrlResponse> result) mutable {
        if (result.ok()) {
          auto cached = std::make_shared<CachedCrl>();
          cached->generation = generation;
          cached->made =
              absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(result->this_update()));
          cached->response = *result;
          absl::MutexLock lock(&crl_mu_);
          crl_ = std::move(cached);
        }
        done(std::move(result));
      });
}

void IdentityManager::ResetCameraEnrollment(const rpc::Identity& who,
                                            const v1::ResetCameraEnrollmentRequest& req,
                                            Done<v1::ResetCameraEnrollmentResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = rpc::ValidateText("reason", req.reason(), 1, 1024);
  if (!valid.ok()) return done(valid);
  RunWrite<v1::ResetCameraEnrollmentResponse>(
      [this, who, req](WriteTx& tx, v1::ResetCameraEnrollmentResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(tx.db(), req.serial()));
        ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> cert,
                         storage::FindCameraCertificate(tx.db(), cam.id));
        if (!cert.has_value() || cert->certificate.has_revoke_time()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "camera '", req.serial(), "' has no valid certificate; it can enroll as it is"));
        }
        RETURN_IF_ERROR(RevokeInTransaction(tx, *cert, v1::REVOCATION_REASON_SUPERSEDED,
                                            who.actor(), revoked_));
        RETURN_IF_ERROR(storage::Audit(
            tx, who.actor(), "camera.reset_enrollment", "camera", req.serial(),
            {{"certificate", cert->certificate.serial()}, {"reason", req.reason()}}));
        ASSIGN_OR_RETURN(storage::CertificateRow after,
                         storage::FindCertificate(tx.db(), cert->certificate.serial()));
        *resp.mutable_revoked_certificate() = std::move(after.certificate);
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::AddSupplierCa(const rpc::Identity& who, const v1::AddSupplierCaRequest& req,
                                    Done<v1::AddSupplierCaResponse> done) {
  absl::Status valid = rpc::ValidateText("name", req.name(), 1, 64);
  if (valid.ok() && req.certificate_pem().empty()) {
    valid = absl::InvalidArgumentError("certificate_pem is required: the supplier's CA, PEM");
  }
  if (!valid.ok()) return done(valid);
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCaCertificate(req.certificate_pem());
  if (!info.ok()) {
    return done(
        absl::InvalidArgumentError(absl::StrCat("certificate_pem: ", info.status().message())));
  }
  RunWrite<v1::AddSupplierCaResponse>(
      [who, req, info = *info](WriteTx& tx, v1::AddSupplierCaResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_supplier_ca(),
                         storage::InsertSupplierCa(
                             tx, req.name(), absl::StrCat("CN=", info.subject_cn),
                             req.certificate_pem(), common::ToMicros(info.not_after), who.actor()));
        return storage::Audit(tx, who.actor(), "supplier_ca.add", "supplier_ca", req.name(),
                              {{"subject", absl::StrCat("CN=", info.subject_cn)}});
      },
      std::move(done));
}

absl::StatusOr<v1::ListSupplierCasResponse> IdentityManager::ListSupplierCas(
    const v1::ListSupplierCasRequest&) {
  v1::ListSupplierCasResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::SupplierCaRow> rows, storage::ListSupplierCas(db));
    for (storage::SupplierCaRow& r : rows) *resp.add_supplier_cas() = std::move(r.ca);
    return absl::OkStatus();
  }));
  return resp;
}

// ---------------------------------------------------------------------------------- docks

template <typename Resp, typename Now>
void IdentityManager::ScheduleSigning(Done<Resp> done, Now now) {
  if (signers_.queued() >= kMaxQueuedSignings) {
    return done(absl::UnavailableError(absl::StrCat(
        "camfleetd is busy: ", kMaxQueuedSignings,
        " certificate requests are waiting to be signed; retry with backoff")));
  }
  signers_.Schedule([now = std::move(now), done = std::move(done),
                     intent = store_.AnnounceWrite()]() mutable { now(std::move(done)); });
}

void IdentityManager::EnrollDock(const rpc::Identity& who, const v1::EnrollDockRequest& req,
                                 Done<v1::EnrollDockResponse> done) {
  ScheduleSigning(
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
                         storage::InsertCertificate(tx, ToRecord(cert, actor)));
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
  done = WithServerTime(store_.clock(), std::move(done));
  if (absl::Status s = ValidateCsrField(req.csr_pem()); !s.ok()) return done(s);
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), Role::kDock, who.name);
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::RenewDockCertificateResponse>(
      [this, who, cert = *std::move(cert)](WriteTx& tx,
                                           v1::RenewDockCertificateResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::DockRow dock, storage::FindDock(tx.db(), who.name));
        if (dock.revoked) {
          return absl::UnauthenticatedError(absl::StrCat("dock '", who.name, "' is revoked"));
        }
        RETURN_IF_ERROR(storage::TouchDock(tx, dock.id));
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, ToRecord(cert, who.actor())));
        RETURN_IF_ERROR(storage::Audit(
            tx, who.actor(), "dock.renew_certificate", "dock", who.name,
            {{"certificate", cert.info.serial_hex}, {"previous", who.certificate_serial}}));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::EnrollCamera(const rpc::Identity& who, const v1::EnrollCameraRequest& req,
                                   Done<v1::EnrollCameraResponse> done) {
  ScheduleSigning(WithServerTime(store_.clock(), std::move(done)),
                  [this, who, req](Done<v1::EnrollCameraResponse> d) {
                    EnrollCameraNow(who, req, std::move(d));
                  });
}

void IdentityManager::EnrollCameraNow(const rpc::Identity& who, const v1::EnrollCameraRequest& req,
                                      Done<v1::EnrollCameraResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = ValidateCsrField(req.csr_pem());
  if (!valid.ok()) return done(valid);
  const absl::Time now = store_.clock().Now();
  std::optional<v1::EnrollCameraResponse> replay;
  auto check = [&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(db, who, req.serial()));
    ASSIGN_OR_RETURN(std::optional<v1::Certificate> issued,
                     AlreadyIssuedForThisKey(ctx, who, req.csr_pem(), now));
    if (issued.has_value()) {
      replay.emplace();
      *replay->mutable_certificate() = *std::move(issued);
      replay->set_ca_certificate_pem(ca_.CertificatePem());
      *replay->mutable_camera() = ctx.camera.camera;
      return absl::OkStatus();
    }
    return CheckCameraEligible(ctx, /*renewal=*/false, now);
  };
  // Refuse before spending a signature; the transaction checks again.
  absl::Status precheck = store_.ReadForPrecheck(check);
  if (precheck.ok() && replay.has_value()) {
    // A replayed answer goes back to the dock: it must rest on durable data.
    replay.reset();
    precheck = store_.Read(check);
  }
  if (!precheck.ok()) return done(precheck);
  if (replay.has_value()) return done(*std::move(replay));
  absl::StatusOr<provisioning::IssuedCertificate> cert =
      Sign(req.csr_pem(), Role::kCamera, req.serial());
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::EnrollCameraResponse>(
      [this, who, req, cert = *std::move(cert)](WriteTx& tx,
                                                v1::EnrollCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(tx.db(), who, req.serial()));
        RETURN_IF_ERROR(CheckCameraEligible(ctx, /*renewal=*/false, tx.now()));
        RETURN_IF_ERROR(storage::TouchDock(tx, ctx.dock.id));
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, ToRecord(cert, who.actor())));
        RETURN_IF_ERROR(storage::SetCameraCertificate(tx, ctx.camera.id, row.id));
        const v1::CameraState from = ctx.camera.camera.state();
        const v1::CameraState to = v1::CAMERA_STATE_AVAILABLE;
        if (from != to) {
          RETURN_IF_ERROR(storage::UpdateCameraState(tx, ctx.camera.id, to,
                                                     absl::StrCat("enrolled at ", who.name)));
        }
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "camera.enroll", "camera", req.serial(),
                                       {{"from", storage::StateName(from)},
                                        {"to", storage::StateName(to)},
                                        {"dock", who.name},
                                        {"certificate", cert.info.serial_hex}}));
        ASSIGN_OR_RETURN(storage::CameraRow after, storage::FindCamera(tx.db(), req.serial()));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        *resp.mutable_camera() = std::move(after.camera);
        return absl::OkStatus();
      },
      std::move(done));
}

void IdentityManager::RenewCameraCertificate(const rpc::Identity& who,
                                             const v1::RenewCameraCertificateRequest& req,
                                             Done<v1::RenewCameraCertificateResponse> done) {
  ScheduleSigning(WithServerTime(store_.clock(), std::move(done)),
                  [this, who, req](Done<v1::RenewCameraCertificateResponse> d) {
                    RenewCameraCertificateNow(who, req, std::move(d));
                  });
}

void IdentityManager::RenewCameraCertificateNow(const rpc::Identity& who,
                                                const v1::RenewCameraCertificateRequest& req,
                                                Done<v1::RenewCameraCertificateResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = ValidateCsrField(req.csr_pem());
  if (!valid.ok()) return done(valid);
  const absl::Time now = store_.clock().Now();
  std::optional<v1::RenewCameraCertificateResponse> replay;
  auto check = [&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(db, who, req.serial()));
    RETURN_IF_ERROR(CheckCameraEligible(ctx, /*renewal=*/true, now));
    ASSIGN_OR_RETURN(std::optional<v1::Certificate> issued,
                     AlreadyIssuedForThisKey(ctx, who, req.csr_pem(), now));
    if (issued.has_value()) {
      replay.emplace();
      *replay->mutable_certificate() = *std::move(issued);
      replay->set_ca_certificate_pem(ca_.CertificatePem());
    }
    return absl::OkStatus();
  };
  absl::Status precheck = store_.ReadForPrecheck(check);
  if (precheck.ok() && replay.has_value()) {
    replay.reset();
    precheck = store_.Read(check);
  }
  if (!precheck.ok()) return done(precheck);
  if (replay.has_value()) return done(*std::move(replay));
  absl::StatusOr<provisioning::IssuedCertificate> cert =
      Sign(req.csr_pem(), Role::kCamera, req.serial());
  if (!cert.ok()) return done(cert.status());
  RunWrite<v1::RenewCameraCertificateResponse>(
      [this, who, req, cert = *std::move(cert)](
          WriteTx& tx, v1::RenewCameraCertificateResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(tx.db(), who, req.serial()));
        RETURN_IF_ERROR(CheckCameraEligible(ctx, /*renewal=*/true, tx.now()));
        RETURN_IF_ERROR(storage::TouchDock(tx, ctx.dock.id));
        ASSIGN_OR_RETURN(storage::CertificateRow row,
                         storage::InsertCertificate(tx, ToRecord(cert, who.actor())));
        RETURN_IF_ERROR(storage::SetCameraCertificate(tx, ctx.camera.id, row.id));
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "camera.renew_certificate", "camera",
                                       req.serial(),
                                       {{"dock", who.name},
                                        {"certificate", cert.info.serial_hex},
                                        {"previous", ctx.certificate->certificate.serial()}}));
        *resp.mutable_certificate() = std::move(row.certificate);
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace camfleet::identity
