// Revocation: the in-memory set, revoking certificates and principals, listing certificates and
// the CRL.

#include "provisioning/revocation.h"

#include <algorithm>
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
#include "provisioning/certificate.h"
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

absl::Duration LongestRenewalGrace() {
  absl::Duration longest = absl::ZeroDuration();
  for (Role role : provisioning::kAllRoles) {
    longest = std::max(longest, provisioning::ProfileFor(role).renewal_grace);
  }
  return longest;
}

}  // namespace

absl::Status LoadRevocations(storage::Store& store, rpc::RevocationSet& set) {
  return store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::RevokedEntry> revoked, storage::ListRevoked(db));
    for (const storage::RevokedEntry& r : revoked) set.Add(r.serial);
    ASSIGN_OR_RETURN(std::vector<storage::OperatorRow> ops,
                     storage::ListOperators(db, /*include_revoked=*/true));
    for (const storage::OperatorRow& op : ops) {
      if (!op.op.has_revoke_time()) continue;
      absl::StatusOr<Role> role = provisioning::ParseRole(storage::RoleText(op.op.role()));
      if (role.ok()) set.AddPrincipal(*role, op.op.name());
    }
    ASSIGN_OR_RETURN(std::vector<v1::Dock> docks,
                     storage::ListDocks(db, std::nullopt, /*include_revoked=*/true));
    for (const v1::Dock& d : docks) {
      if (d.has_revoke_time()) set.AddPrincipal(Role::kDock, d.dock_id());
    }
    return absl::OkStatus();
  });
}

void RevocationBatch::ApplyTo(rpc::RevocationSet& set) const {
  for (const auto& [role, identity] : principals) set.AddPrincipal(role, identity);
  for (const std::string& serial : serials) set.Add(serial);
}

absl::Status RevokeInTransaction(WriteTx& tx, const storage::CertificateRow& cert,
                                 v1::RevocationReason reason, const std::string& revoked_by,
                                 RevocationBatch& batch) {
  RETURN_IF_ERROR(storage::RevokeCertificate(tx, cert.id, reason, revoked_by));
  batch.serials.push_back(cert.certificate.serial());
  return storage::Audit(tx, revoked_by, "certificate.revoke", "certificate",
                        cert.certificate.serial(),
                        {{"role", storage::RoleText(cert.certificate.role())},
                         {"identity", cert.certificate.identity()},
                         {"reason", storage::ReasonText(reason)}});
}

absl::Status RevokeInTransaction(WriteTx& tx, const storage::CertificateRow& cert,
                                 v1::RevocationReason reason, const std::string& revoked_by,
                                 rpc::RevocationSet& set) {
  RevocationBatch batch;
  RETURN_IF_ERROR(RevokeInTransaction(tx, cert, reason, revoked_by, batch));
  // Only once the revocation is committed: a revocation rolled back (its write failed later,
  // or its group's transaction was lost) must not leave the certificate refused in memory.
  tx.AfterCommit([&set, batch = std::move(batch)] { batch.ApplyTo(set); });
  return absl::OkStatus();
}

absl::StatusOr<size_t> internal::RevokeMatching(WriteTx& tx, storage::CertificateFilter filter,
                                                v1::RevocationReason reason,
                                                const std::string& actor, RevocationBatch& batch,
                                                const std::string& keep) {
  // In pages, newest first, so that any number of certificates is revoked without holding
  // them all in memory; revoked rows drop out of the filter, `keep` is stepped over.
  filter.include_revoked = false;
  filter.limit = 500;
  filter.before_id.reset();
  size_t count = 0;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> certs,
                     storage::ListCertificates(tx.db(), filter));
    if (certs.empty()) return count;
    for (const storage::CertificateRow& c : certs) {
      if (!keep.empty() && c.certificate.serial() == keep) continue;
      RETURN_IF_ERROR(RevokeInTransaction(tx, c, reason, actor, batch));
      ++count;
    }
    filter.before_id = certs.back().id;
  }
}

absl::StatusOr<std::vector<std::string>> RevokeCameraCertificates(WriteTx& tx,
                                                                  const std::string& camera_serial,
                                                                  v1::RevocationReason reason,
                                                                  const std::string& revoked_by,
                                                                  RevocationBatch& batch) {
  storage::CertificateFilter filter;
  filter.role = "camera";
  filter.identity = camera_serial;
  const size_t before = batch.serials.size();
  RETURN_IF_ERROR(RevokeMatching(tx, filter, reason, revoked_by, batch).status());
  return std::vector<std::string>(batch.serials.begin() + static_cast<ptrdiff_t>(before),
                                  batch.serials.end());
}

absl::StatusOr<std::vector<std::string>> RevokeCameraCertificates(WriteTx& tx,
                                                                  const std::string& camera_serial,
                                                                  v1::RevocationReason reason,
                                                                  const std::string& revoked_by,
                                                                  rpc::RevocationSet& set) {
  RevocationBatch batch;
  ASSIGN_OR_RETURN(std::vector<std::string> serials,
                   RevokeCameraCertificates(tx, camera_serial, reason, revoked_by, batch));
  tx.AfterCommit([&set, batch = std::move(batch)] { batch.ApplyTo(set); });
  return serials;
}

absl::Status internal::CheckRenewalWindow(common::Database& db, const std::string& serial,
                                          absl::Time now) {
  ASSIGN_OR_RETURN(storage::CertificateRow cert, storage::FindCertificate(db, serial));
  const absl::Time not_before =
      absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(cert.certificate.not_before()));
  const absl::Time not_after =
      absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(cert.certificate.not_after()));
  const absl::Time opens = provisioning::RenewalDueAt(not_before, not_after);
  if (now + provisioning::kClockSkewAllowance < opens) {
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate ", serial, " is not due for renewal: its renewal window opens at ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", opens, absl::UTCTimeZone()),
        " (2/3 of its validity); renew then"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<storage::CertificateRow>> internal::CheckRecovery(
    common::Database& db, const rpc::Identity& who, const std::string& csr_pem) {
  const std::string role(who.role.has_value() ? provisioning::RoleName(*who.role) : "");
  const std::string whose = absl::StrCat(role, " '", who.name, "'");
  const std::string enroll_again =
      who.role == Role::kDock ? "enroll the dock again with a new token (camfleet-dock enroll)"
                              : "ask an admin for new credentials (camfleet operator add)";
  auto unrecorded = [&](absl::string_view why) {
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate ", who.certificate_serial, " of ", whose,
        " comes from an issuing CA the fleet root revoked, and ", why,
        ": a certificate signed with that CA's key counts only if camfleetd issued and recorded "
        "it; ",
        enroll_again));
  };
  absl::StatusOr<storage::CertificateRow> row =
      storage::FindCertificate(db, who.certificate_serial);
  if (absl::IsNotFound(row.status())) return unrecorded("camfleetd never issued that serial");
  RETURN_IF_ERROR(row.status());
  const v1::Certificate& recorded = row->certificate;
  absl::StatusOr<std::string> presented = provisioning::CertificateFingerprint(who.recovery_pem);
  absl::StatusOr<std::string> kept =
      provisioning::CertificateFingerprint(recorded.certificate_pem());
  if (!presented.ok() || !kept.ok() || *presented != *kept || recorded.identity() != who.name ||
      storage::RoleText(recorded.role()) != role) {
    return unrecorded("it is not the certificate camfleetd recorded under that serial");
  }
  if (!recorded.has_revoke_time()) return std::nullopt;
  const std::string when = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%SZ",
      absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(recorded.revoke_time())),
      absl::UTCTimeZone());
  if (recorded.revocation_reason() == v1::REVOCATION_REASON_SUPERSEDED) {
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::FromPem(csr_pem);
    absl::StatusOr<std::string> key =
        csr.ok() ? csr->PublicKeyFingerprint() : absl::StatusOr<std::string>(csr.status());
    if (key.ok()) {
      storage::CertificateFilter same;
      same.role = role;
      same.identity = who.name;
      ASSIGN_OR_RETURN(std::vector<storage::CertificateRow> current,
                       storage::ListCertificates(db, same));
      for (storage::CertificateRow& c : current) {
        if (c.certificate.key_fingerprint() == *key) return std::move(c);
      }
    }
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate ", who.certificate_serial, " of ", whose,
        " comes from an issuing CA the fleet root revoked and was renewed onto the current one "
        "already (superseded since ",
        when, "); it renews once: use the certificate it was renewed to, or ", enroll_again));
  }
  return absl::UnauthenticatedError(absl::StrCat(
      "certificate ", who.certificate_serial, " of ", whose, " is revoked since ", when, " (",
      storage::ReasonText(recorded.revocation_reason()),
      "), so it cannot renew even though only its issuing CA was replaced; ", enroll_again));
}

absl::StatusOr<std::optional<v1::Certificate>> internal::PrecheckRenewal(
    storage::Store& store, const rpc::Identity& who, const std::string& csr_pem) {
  const absl::Time now = store.clock().Now();
  std::optional<v1::Certificate> replay;
  auto check = [&](common::Database& db) -> absl::Status {
    replay.reset();
    if (!who.recovering()) return CheckRenewalWindow(db, who.certificate_serial, now);
    ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> again, CheckRecovery(db, who, csr_pem));
    if (again.has_value()) replay = std::move(again->certificate);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(store.ReadForPrecheck(check));
  if (replay.has_value()) RETURN_IF_ERROR(store.Read(check));
  return replay;
}

std::string internal::RecoveredIssuer(const rpc::Identity& who) {
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(who.recovery_pem);
  return info.ok() ? info->issuer_cn : "";
}

absl::StatusOr<v1::Certificate> internal::RenewInTransaction(
    WriteTx& tx, const rpc::Identity& who, const std::string& csr_pem,
    const provisioning::IssuedCertificate& cert, const RenewalOptions& options,
    RevocationBatch& batch) {
  if (options.principal_revoked) {
    return absl::UnauthenticatedError(
        absl::StrCat(options.principal, " '", who.name, "' is revoked"));
  }
  if (who.recovering()) {
    ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> again,
                     CheckRecovery(tx.db(), who, csr_pem));
    // The same recovery, sent twice at once: the other call won; this one gets its answer, and
    // the certificate signed here is discarded unseen.
    if (again.has_value()) return std::move(again->certificate);
  } else {
    RETURN_IF_ERROR(CheckRenewalWindow(tx.db(), who.certificate_serial, tx.now()));
  }
  if (options.on_admitted) RETURN_IF_ERROR(options.on_admitted(tx));
  // At most one overlap: the certificate presented stays valid until it expires (the client
  // switches to the new one once it has it safely on disk); every other one the principal
  // holds, a previous renewal's included, is superseded now. A recovery supersedes the one
  // presented too: it is good for nothing else, and this way it recovers once.
  storage::CertificateFilter others;
  others.role = options.certificate_role;
  others.identity = who.name;
  ASSIGN_OR_RETURN(size_t superseded,
                   RevokeMatching(tx, others, v1::REVOCATION_REASON_SUPERSEDED, who.actor(), batch,
                                  who.recovering() ? std::string() : who.certificate_serial));
  ASSIGN_OR_RETURN(storage::CertificateRow row,
                   storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, who.actor())));
  storage::AuditDetails fields = {{"certificate", cert.info.serial_hex},
                                  {"previous", who.certificate_serial},
                                  {"superseded", absl::StrCat(superseded)}};
  if (who.recovering()) fields.emplace_back("revoked_issuer", RecoveredIssuer(who));
  RETURN_IF_ERROR(storage::Audit(tx, who.actor(),
                                 who.recovering() ? options.recover_action : options.renew_action,
                                 options.principal, who.name, fields));
  return std::move(row.certificate);
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
  RETURN_IF_ERROR(rpc::ValidateText("subject", req.subject(), 0, 64));
  filter.subject_cn = req.subject();
  if (!req.relayed_by().empty()) {
    RETURN_IF_ERROR(ValidateName("relayed_by", req.relayed_by()));
    // A dock relays camera certificates; its own (issued_by itself too) are not among them.
    if (!filter.role.empty() && filter.role != "camera") {
      return absl::InvalidArgumentError(
          "relayed_by lists the camera certificates a dock relayed; drop role or set CAMERA");
    }
    filter.role = "camera";
    filter.issued_by = absl::StrCat("dock:", req.relayed_by());
  }
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query =
      absl::StrCat("certificates|", filter.role, "|", filter.identity, "|", filter.include_revoked,
                   "|", filter.subject_cn, "|", filter.issued_by);
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
  RunRevokingWrite<v1::RevokeCertificateResponse>(
      [who, req, serial = StoredSerial(req.serial())](WriteTx& tx,
                                                      v1::RevokeCertificateResponse& resp,
                                                      RevocationBatch& batch) -> absl::Status {
        ASSIGN_OR_RETURN(storage::CertificateRow cert, storage::FindCertificate(tx.db(), serial));
        if (cert.certificate.has_revoke_time()) {
          return absl::FailedPreconditionError(
              absl::StrCat("certificate ", serial, " is already revoked"));
        }
        RETURN_IF_ERROR(RevokeInTransaction(tx, cert, req.reason(), who.actor(), batch));
        ASSIGN_OR_RETURN(storage::CertificateRow after, storage::FindCertificate(tx.db(), serial));
        *resp.mutable_certificate() = std::move(after.certificate);
        return absl::OkStatus();
      },
      std::move(done));
}

// The CRL (issue 11, item 8): concurrent requests share one build; the writer only reserves
// the number and reads the list (one short transaction), and the signature is made on a
// signing thread, never on the writer. A CRL is rebuilt only when a revocation was applied
// since (the generation moved) or it is a day old, so the same content never gets two numbers
// while camfleetd runs.
//
// The number (issue 11, item 7) is max(last number + 1, the time in microseconds since the
// epoch): a database restored from an older backup forgets the numbers it gave out since, but
// the clock has moved past them, so a dock never sees a number go back (or repeat with other
// content). It fits the int64 the protocol carries until the year 294,000.
void IdentityManager::GetCrl(const v1::GetCrlRequest&, Done<v1::GetCrlResponse> done) {
  const uint64_t generation = revoked_.generation();
  const absl::Time now = store_.clock().Now();
  {
    absl::MutexLock lock(&crl_mu_);
    if (crl_ != nullptr && crl_->generation >= generation && now - crl_->made < kCrlRefresh) {
      return done(crl_->response);
    }
    crl_waiters_.push_back({generation, std::move(done)});
    if (crl_building_) return;  // the build under way answers it (or starts the next one)
    crl_building_ = true;
  }
  StartCrlBuild();
}

void IdentityManager::StartCrlBuild() {
  // Read under the lock by FinishCrlBuild too: revocations applied before this point are in the
  // CRL this build makes (the transaction below starts after their commit).
  const uint64_t generation = revoked_.generation();
  struct Reserved {
    uint64_t number = 0;
    absl::Time this_update;
    std::vector<provisioning::RevokedCertificate> revoked;
    std::vector<std::string> factory_keys;
  };
  auto reserved = std::make_shared<Reserved>();
  // The response type only carries the outcome; what the build needs is in `reserved`.
  RunWrite<v1::GetCrlResponse>(
      [reserved](WriteTx& tx, v1::GetCrlResponse&) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         storage::GetSetting(tx.db(), kCrlNumberSetting));
        uint64_t last = 0;
        if (stored.has_value() && !absl::SimpleAtoi(*stored, &last)) {
          return absl::InternalError("the stored CRL number is corrupt");
        }
        const int64_t micros = common::ToMicros(tx.now());
        const uint64_t number =
            std::max(last + 1, static_cast<uint64_t>(std::max<int64_t>(micros, 0)));
        RETURN_IF_ERROR(storage::PutSetting(tx.db(), kCrlNumberSetting, absl::StrCat(number)));
        ASSIGN_OR_RETURN(std::vector<storage::RevokedEntry> entries, storage::ListRevoked(tx.db()));
        // A certificate past its expiry and every renewal grace is refused by its dates alone;
        // listing it would only grow the CRL forever (RFC 5280 5.1 allows dropping it).
        const int64_t expired_before_us = common::ToMicros(tx.now() - LongestRenewalGrace());
        reserved->revoked.clear();
        reserved->factory_keys.clear();
        for (const storage::RevokedEntry& e : entries) {
          if (e.not_after_us < expired_before_us) continue;
          // Supplier certificates are not ours to put on the CRL; the dock checks them by key
          // beside it (GetCrlResponse.revoked_factory_key_fingerprints).
          if (e.serial.find(':') != std::string::npos) {
            reserved->factory_keys.push_back(e.key_fingerprint);
            continue;
          }
          reserved->revoked.push_back(
              {e.serial, common::FromMicros(e.revoked_us), ToCrlReason(e.reason)});
        }
        reserved->number = number;
        reserved->this_update = tx.now();
        return absl::OkStatus();
      },
      // Committed: the number is on disk, so it is never given out again. Signed off the writer.
      [this, generation, reserved](absl::StatusOr<v1::GetCrlResponse> committed) mutable {
        if (!committed.ok()) return FinishCrlBuild(generation, committed.status());
        signers_.Schedule([this, generation, reserved]() mutable {
          absl::StatusOr<std::string> pem =
              ca_.MakeCrl(reserved->revoked, reserved->this_update,
                          reserved->this_update + kCrlLifetime, reserved->number);
          if (!pem.ok()) return FinishCrlBuild(generation, pem.status());
          v1::GetCrlResponse resp;
          resp.set_crl_pem(*std::move(pem));
          resp.set_crl_number(static_cast<int64_t>(reserved->number));
          *resp.mutable_this_update() =
              TimeUtil::MicrosecondsToTimestamp(common::ToMicros(reserved->this_update));
          *resp.mutable_next_update() = TimeUtil::MicrosecondsToTimestamp(
              common::ToMicros(reserved->this_update + kCrlLifetime));
          resp.set_ca_certificate_pem(ca_.CertificatePem());
          for (std::string& key : reserved->factory_keys) {
            resp.add_revoked_factory_key_fingerprints(std::move(key));
          }
          FinishCrlBuild(generation, std::move(resp));
        });
      });
}

void IdentityManager::FinishCrlBuild(uint64_t generation,
                                     absl::StatusOr<v1::GetCrlResponse> result) {
  std::vector<CrlWaiter> answered;
  bool again = false;
  {
    absl::MutexLock lock(&crl_mu_);
    if (result.ok()) {
      auto cached = std::make_shared<CachedCrl>();
      cached->generation = generation;
      cached->made = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(result->this_update()));
      cached->response = *result;
      crl_ = std::move(cached);
    }
    // A caller that saw a newer revocation than this build's snapshot waits for the next build:
    // its own revocation must be on the CRL it gets. A failure answers everyone.
    std::vector<CrlWaiter> later;
    for (CrlWaiter& w : crl_waiters_) {
      if (!result.ok() || w.generation <= generation) {
        answered.push_back(std::move(w));
      } else {
        later.push_back(std::move(w));
      }
    }
    crl_waiters_ = std::move(later);
    again = !crl_waiters_.empty();
    crl_building_ = again;
  }
  for (CrlWaiter& w : answered) w.done(result);
  if (again) StartCrlBuild();
}

}  // namespace camfleet::identity
