// Revocation: the in-memory set, revoking certificates and principals, listing certificates and
// the CRL.

#include "provisioning/revocation.h"

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

constexpr char kCrlNumberSetting[] = "crl_number";
constexpr absl::Duration kCrlLifetime = absl::Hours(24 * 7);
constexpr absl::Duration kCrlRefresh = absl::Hours(24);

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
  set.Add(cert.certificate.serial());
  return storage::Audit(tx, revoked_by, "certificate.revoke", "certificate",
                        cert.certificate.serial(),
                        {{"role", storage::RoleText(cert.certificate.role())},
                         {"identity", cert.certificate.identity()},
                         {"reason", storage::ReasonText(reason)}});
}

// Revokes every valid certificate of `role`/`identity` (an operator or dock being removed).
absl::StatusOr<size_t> internal::RevokeAllCertificates(WriteTx& tx, const std::string& role,
                                                       const std::string& identity,
                                                       v1::RevocationReason reason,
                                                       const std::string& actor,
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

}  // namespace camfleet::identity
