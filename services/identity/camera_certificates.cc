// Camera certificates: enrollment and renewal through a dock, reset, supplier CAs and factory
// certificates.

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/csr.h"
#include "provisioning/digest.h"
#include "provisioning/identity.h"
#include "provisioning/possession.h"
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
  // An unknown serial and another site's serial get the same answer (code and text), so a
  // dock cannot map the fleet by probing serials (issue 11, item 10).
  absl::StatusOr<storage::CameraRow> camera = storage::FindCamera(db, serial);
  if ((camera.ok() && camera->site_id != ctx.dock.site_id) || absl::IsNotFound(camera.status())) {
    return absl::PermissionDeniedError(
        absl::StrCat("camera '", serial, "' is not a camera of site ", ctx.dock.dock.site_code(),
                     "; dock '", who.name, "' acts only for its own site's cameras"));
  }
  RETURN_IF_ERROR(camera.status());
  ctx.camera = *std::move(camera);
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
    if (state == v1::CAMERA_STATE_ISSUED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "camera '", serial,
          "' is ISSUED (out with an officer, not in a dock), so no dock can be renewing it; "
          "it renews when it is returned and docked"));
    }
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
    return common::WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "camera '", serial, "' is already enrolled (certificate ",
            ctx.certificate->certificate.serial(),
            "); an admin must reset its enrollment first (camfleet camera reset-enrollment)")),
        common::kReasonCameraAlreadyEnrolled);
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

// The renewal's proof of possession (provisioning/possession.h): the camera signed the new CSR
// with the key of the certificate the server holds as its current one (ours or the factory's).
absl::Status CheckRenewalProof(const CameraContext& ctx, const std::string& csr_pem,
                               const std::string& signature) {
  const std::string& serial = ctx.camera.camera.serial();
  if (signature.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("current_key_signature is required: camera '", serial,
                     "' must sign the new CSR with the key of its current certificate (CameraLink "
                     "ProveCurrentKey); a dock cannot renew a camera without it"));
  }
  absl::Status proof = provisioning::VerifyRenewalProof(
      ctx.certificate->certificate.certificate_pem(), csr_pem, signature);
  if (absl::IsPermissionDenied(proof)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "current_key_signature does not verify with the key of the current certificate ",
        ctx.certificate->certificate.serial(), " of camera '", serial, "'",
        ": the device in the slot did not prove it holds that key; it is not renewed"));
  }
  if (!proof.ok()) {
    return absl::Status(proof.code(), absl::StrCat("current_key_signature: ", proof.message()));
  }
  return absl::OkStatus();
}

}  // namespace

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

void IdentityManager::ResetCameraEnrollment(const rpc::Identity& who,
                                            const v1::ResetCameraEnrollmentRequest& req,
                                            Done<v1::ResetCameraEnrollmentResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = rpc::ValidateText("reason", req.reason(), 1, 1024);
  if (!valid.ok()) return done(valid);
  RunRevokingWrite<v1::ResetCameraEnrollmentResponse>(
      [who, req](WriteTx& tx, v1::ResetCameraEnrollmentResponse& resp,
                 RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(tx.db(), req.serial()));
        ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> cert,
                         storage::FindCameraCertificate(tx.db(), cam.id));
        if (!cert.has_value() || cert->certificate.has_revoke_time()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "camera '", req.serial(), "' has no valid certificate; it can enroll as it is"));
        }
        // Not only the linked certificate: any older one still valid (an earlier enrollment's,
        // a renewal's predecessor, the factory one) would let the old key back in.
        ASSIGN_OR_RETURN(
            std::vector<std::string> revoked,
            RevokeCameraCertificates(tx, req.serial(), v1::REVOCATION_REASON_SUPERSEDED,
                                     who.actor(), batch));
        RETURN_IF_ERROR(storage::Audit(tx, who.actor(), "camera.reset_enrollment", "camera",
                                       req.serial(),
                                       {{"certificate", cert->certificate.serial()},
                                        {"revoked_certificates", absl::StrJoin(revoked, ",")},
                                        {"reason", req.reason()}}));
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
    const v1::ListSupplierCasRequest& req) {
  const std::string query = "supplier_cas";
  ASSIGN_OR_RETURN(Paging paging, StartPaging(tokens_, query, req.page_size(), req.page_token()));
  v1::ListSupplierCasResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::SupplierCaRow> rows,
                     storage::ListSupplierCas(db, paging.page));
    resp.set_next_page_token(FinishPaging(
        tokens_, query, paging, rows, [](const storage::SupplierCaRow& r) { return r.ca.name(); }));
    for (storage::SupplierCaRow& r : rows) *resp.add_supplier_cas() = std::move(r.ca);
    return absl::OkStatus();
  }));
  return resp;
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
        ASSIGN_OR_RETURN(
            storage::CertificateRow row,
            storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, who.actor())));
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
  // The certificate whose key the proof was checked with.
  std::string proven_serial;
  auto check = [&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(db, who, req.serial()));
    RETURN_IF_ERROR(CheckCameraEligible(ctx, /*renewal=*/true, now));
    ASSIGN_OR_RETURN(std::optional<v1::Certificate> issued,
                     AlreadyIssuedForThisKey(ctx, who, req.csr_pem(), now));
    if (issued.has_value()) {
      // A retry after a lost answer: the camera's current certificate is already the one for
      // the CSR's key (the CSR proves that key), so the proof, made with the previous key, is
      // not checked against it.
      replay.emplace();
      *replay->mutable_certificate() = *std::move(issued);
      replay->set_ca_certificate_pem(ca_.CertificatePem());
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(CheckRenewalProof(ctx, req.csr_pem(), req.current_key_signature()));
    proven_serial = ctx.certificate->certificate.serial();
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
      [this, who, req, proven_serial, cert = *std::move(cert)](
          WriteTx& tx, v1::RenewCameraCertificateResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(CameraContext ctx, LoadCameraContext(tx.db(), who, req.serial()));
        RETURN_IF_ERROR(CheckCameraEligible(ctx, /*renewal=*/true, tx.now()));
        if (ctx.certificate->certificate.serial() != proven_serial) {
          return absl::AbortedError(absl::StrCat(
              "the current certificate of camera '", req.serial(),
              "' changed while the renewal was signed (now ", ctx.certificate->certificate.serial(),
              "); ask the camera for a new proof and retry"));
        }
        RETURN_IF_ERROR(storage::TouchDock(tx, ctx.dock.id));
        ASSIGN_OR_RETURN(
            storage::CertificateRow row,
            storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, who.actor())));
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
