// Operators: their certificates, renewal, listing and revocation.

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
  // Signing is CPU work: it waits its turn on a signing thread, not on a gRPC callback thread.
  ScheduleSigning(std::move(done),
                  [this, who, req, role](Done<v1::IssueOperatorCertificateResponse> d) {
                    IssueOperatorCertificateNow(who, req, role, std::move(d));
                  });
}

void IdentityManager::IssueOperatorCertificateNow(const rpc::Identity& who,
                                                  const v1::IssueOperatorCertificateRequest& req,
                                                  provisioning::Role role,
                                                  Done<v1::IssueOperatorCertificateResponse> done) {
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
        ASSIGN_OR_RETURN(
            storage::CertificateRow row,
            storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, who.actor())));
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
  // The precheck reads the store and signing is CPU work: both wait their turn on a signing
  // thread, as a dock's renewal does, instead of holding one of gRPC's callback threads.
  ScheduleSigning(std::move(done), [this, who, req](Done<v1::RenewOperatorCertificateResponse> d) {
    RenewOperatorCertificateNow(who, req, std::move(d));
  });
}

void IdentityManager::RenewOperatorCertificateNow(const rpc::Identity& who,
                                                  const v1::RenewOperatorCertificateRequest& req,
                                                  Done<v1::RenewOperatorCertificateResponse> done) {
  if (!who.role.has_value() || !provisioning::IsOperator(*who.role)) {
    return done(absl::FailedPreconditionError("only operators renew with this call"));
  }
  if (absl::Status s = ValidateCsrField(req.csr_pem()); !s.ok()) return done(s);
  // A renewal renews the certificate the caller presented. Every caller over mutual TLS has
  // one; refusing a caller without one here means no path renews without its window checked.
  if (who.certificate_serial.empty()) {
    return done(absl::UnauthenticatedError(
        "renewing needs the certificate to renew: call over mutual TLS with the operator "
        "certificate that is due"));
  }
  // Refuse an early renewal (or a recovery with a certificate camfleetd did not record) before
  // spending a signature on it.
  {
    absl::StatusOr<std::optional<v1::Certificate>> replay =
        internal::PrecheckRenewal(store_, who, req.csr_pem());
    if (!replay.ok()) return done(replay.status());
    if (replay->has_value()) {
      v1::RenewOperatorCertificateResponse resp;
      *resp.mutable_certificate() = **std::move(replay);
      resp.set_ca_certificate_pem(ca_.CertificatePem());
      return done(std::move(resp));
    }
  }
  absl::StatusOr<provisioning::IssuedCertificate> cert = Sign(req.csr_pem(), *who.role, who.name);
  if (!cert.ok()) return done(cert.status());
  RunRevokingWrite<v1::RenewOperatorCertificateResponse>(
      [this, who, req, cert = *std::move(cert)](WriteTx& tx,
                                                v1::RenewOperatorCertificateResponse& resp,
                                                RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::OperatorRow op, storage::FindOperator(tx.db(), who.name));
        ASSIGN_OR_RETURN(*resp.mutable_certificate(),
                         RenewInTransaction(tx, who, req.csr_pem(), cert,
                                            {.principal = "operator",
                                             .principal_revoked = op.op.has_revoke_time(),
                                             .certificate_role = storage::RoleText(op.op.role()),
                                             .renew_action = "operator.renew_certificate",
                                             .recover_action = "operator.recover_certificate",
                                             .on_admitted = nullptr},
                                            batch));
        resp.set_ca_certificate_pem(ca_.CertificatePem());
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListOperatorsResponse> IdentityManager::ListOperators(
    const v1::ListOperatorsRequest& req) {
  const std::string query = absl::StrCat("operators|", req.include_revoked());
  ASSIGN_OR_RETURN(Paging paging, StartPaging(tokens_, query, req.page_size(), req.page_token()));
  v1::ListOperatorsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::OperatorRow> ops,
                     storage::ListOperators(db, req.include_revoked(), paging.page));
    resp.set_next_page_token(FinishPaging(
        tokens_, query, paging, ops, [](const storage::OperatorRow& r) { return r.op.name(); }));
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
  RunRevokingWrite<v1::RevokeOperatorResponse>(
      [who, req](WriteTx& tx, v1::RevokeOperatorResponse& resp,
                 RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::OperatorRow op, storage::FindOperator(tx.db(), req.name()));
        if (op.op.has_revoke_time()) {
          return absl::FailedPreconditionError(
              absl::StrCat("operator '", req.name(), "' is already revoked"));
        }
        RETURN_IF_ERROR(storage::MarkOperatorRevoked(tx, op.id));
        // The principal first: from the commit on, every certificate it ever held is refused,
        // whatever its serial; then each one still valid is revoked for the CRL.
        ASSIGN_OR_RETURN(Role role, provisioning::ParseRole(storage::RoleText(op.op.role())));
        batch.principals.emplace_back(role, req.name());
        storage::CertificateFilter all;
        all.role = storage::RoleText(op.op.role());
        all.identity = req.name();
        ASSIGN_OR_RETURN(size_t count, RevokeMatching(tx, all, req.reason(), who.actor(), batch));
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

}  // namespace camfleet::identity
