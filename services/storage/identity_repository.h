#pragma once
// SQL for certificates, operators, docks, enrollment tokens and supplier CAs.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/provisioning.pb.h"
#include "common/sqlite.h"
#include "provisioning/certificate.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// "admin" for ROLE_ADMIN, ..., "camera": the names certificates and operators are stored with
// (provisioning::RoleName). "server" has no API value and is stored by name.
std::string RoleText(v1::Role role);
v1::Role RoleFromText(absl::string_view text);
// "KEY_COMPROMISE" for REVOCATION_REASON_KEY_COMPROMISE, etc.
const char* ReasonText(v1::RevocationReason reason);

// ---- certificates ----
struct CertificateRecord {
  std::string serial;  // lower-case hex
  std::string role;    // RoleText or "server"
  std::string identity;
  std::string subject;
  std::string key_fingerprint;
  int64_t not_before_us = 0;
  int64_t not_after_us = 0;
  std::string pem;
  std::string issued_by;
  std::string source = "fleet-ca";  // or "supplier"
};
// How a certificate the fleet CA issued is recorded, issued by `issued_by` (an actor).
CertificateRecord CertificateRecordOf(const provisioning::IssuedCertificate& cert,
                                      absl::string_view issued_by);
struct CertificateRow {
  int64_t id = 0;
  v1::Certificate certificate;
};
// Errors: ALREADY_EXISTS if the serial is known.
absl::StatusOr<CertificateRow> InsertCertificate(WriteTx& tx, const CertificateRecord& record);
// NOT_FOUND naming the serial.
absl::StatusOr<CertificateRow> FindCertificate(common::Database& db, const std::string& serial);
// Newest first; id < before_id when set.
struct CertificateFilter {
  std::string role;  // empty for any
  std::string identity;
  std::string issued_by;   // empty for any; "dock:<id>" for what a dock relayed
  std::string subject_cn;  // empty for any; matches subject "CN=<subject_cn>"
  bool include_revoked = false;
  std::optional<int64_t> before_id;
  int limit = 100;
};
absl::StatusOr<std::vector<CertificateRow>> ListCertificates(common::Database& db,
                                                             const CertificateFilter& filter);
// Revokes one certificate. FAILED_PRECONDITION if it is already revoked.
absl::Status RevokeCertificate(WriteTx& tx, int64_t id, v1::RevocationReason reason,
                               const std::string& revoked_by);
struct RevokedEntry {
  std::string serial;
  int64_t revoked_us = 0;
  v1::RevocationReason reason = v1::REVOCATION_REASON_UNSPECIFIED;
  int64_t not_after_us = 0;
  std::string key_fingerprint;
};
absl::StatusOr<std::vector<RevokedEntry>> ListRevoked(common::Database& db);

// ---- operators ----
struct OperatorRow {
  int64_t id = 0;
  v1::Operator op;  // without certificates
};
absl::StatusOr<OperatorRow> InsertOperator(WriteTx& tx, const std::string& name,
                                           const std::string& role, const std::string& created_by);
// NOT_FOUND naming the operator.
absl::StatusOr<OperatorRow> FindOperator(common::Database& db, const std::string& name);
// One page of a list in key order: rows after `after` (empty: from the start), at most `limit`
// (negative: all). For lists newest first by id, `after` is the last id seen, as text.
struct KeyPage {
  std::string after;
  int limit = -1;
};
absl::StatusOr<std::vector<OperatorRow>> ListOperators(common::Database& db, bool include_revoked,
                                                       const KeyPage& page = {});
absl::Status MarkOperatorRevoked(WriteTx& tx, int64_t id);

// ---- enrollment tokens ----
struct TokenRow {
  int64_t id = 0;
  int64_t site_id = 0;
  int64_t expires_us = 0;
  bool used = false;
  v1::EnrollmentToken token;
};
absl::StatusOr<TokenRow> InsertToken(WriteTx& tx, const std::string& token_hash, int64_t site_id,
                                     const std::string& note, int64_t expires_us,
                                     const std::string& created_by);
// The token with this hash, if any.
absl::StatusOr<std::optional<TokenRow>> FindTokenByHash(common::Database& db,
                                                        const std::string& token_hash);
absl::Status MarkTokenUsed(WriteTx& tx, int64_t id, const std::string& dock_id);
absl::StatusOr<std::vector<v1::EnrollmentToken>> ListTokens(common::Database& db,
                                                            std::optional<int64_t> site_id,
                                                            const KeyPage& page = {});

// ---- docks ----
struct DockRow {
  int64_t id = 0;
  int64_t site_id = 0;
  bool revoked = false;
  v1::Dock dock;
};
absl::StatusOr<DockRow> InsertDock(WriteTx& tx, const std::string& dock_id, int64_t site_id,
                                   int slot_count, int64_t token_id);
// NOT_FOUND naming the dock.
absl::StatusOr<DockRow> FindDock(common::Database& db, const std::string& dock_id);
// The certificate the dock was enrolled with (the first one issued for its id, in the
// transaction that used its token), revoked or not; none for an unknown dock. Its key is the
// one that used the token, which is what a retried EnrollDock is checked against.
absl::StatusOr<std::optional<CertificateRow>> FindDockEnrollmentCertificate(
    common::Database& db, const std::string& dock_id);
// Docks of `site_id` or under it (all when unset), by id.
absl::StatusOr<std::vector<v1::Dock>> ListDocks(common::Database& db,
                                                std::optional<int64_t> site_id,
                                                bool include_revoked, const KeyPage& page = {});
absl::Status MarkDockRevoked(WriteTx& tx, int64_t id);
absl::Status TouchDock(WriteTx& tx, int64_t id);

// ---- supplier CAs ----
struct SupplierCaRow {
  std::string pem;
  v1::SupplierCa ca;
};
absl::StatusOr<v1::SupplierCa> InsertSupplierCa(WriteTx& tx, const std::string& name,
                                                const std::string& subject, const std::string& pem,
                                                int64_t not_after_us,
                                                const std::string& created_by);
absl::StatusOr<std::vector<SupplierCaRow>> ListSupplierCas(common::Database& db,
                                                           const KeyPage& page = {});

// ---- camera certificates ----
absl::Status SetCameraCertificate(WriteTx& tx, int64_t camera_id, int64_t certificate_id);
// The camera's current certificate, if it has one (valid or revoked).
absl::StatusOr<std::optional<CertificateRow>> FindCameraCertificate(common::Database& db,
                                                                    int64_t camera_id);

}  // namespace camfleet::storage
