#include "services/storage/identity_repository.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/role.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

// Enum values are stored as the proto name without its prefix.
const char* Suffix(const std::string& full, size_t prefix) {
  return full.size() > prefix ? full.c_str() + prefix : "UNSPECIFIED";
}

v1::RevocationReason ReasonFromText(absl::string_view text) {
  v1::RevocationReason reason = v1::REVOCATION_REASON_UNSPECIFIED;
  if (!text.empty()) {
    v1::RevocationReason_Parse(absl::StrCat("REVOCATION_REASON_", text), &reason);
  }
  return reason;
}

constexpr char kSelectCertificate[] =
    "SELECT id, serial, role, identity, subject, key_fingerprint, not_before_us, not_after_us, "
    "pem, issued_by, revoked_us, COALESCE(revocation_reason, '') FROM certificates ";

CertificateRow CertificateFromRow(const common::Statement& s) {
  CertificateRow row;
  row.id = s.ColumnInt(0);
  v1::Certificate& c = row.certificate;
  c.set_serial(s.ColumnText(1));
  c.set_role(RoleFromText(s.ColumnText(2)));
  c.set_identity(s.ColumnText(3));
  c.set_subject(s.ColumnText(4));
  c.set_key_fingerprint(s.ColumnText(5));
  *c.mutable_not_before() = MicrosToTimestamp(s.ColumnInt(6));
  *c.mutable_not_after() = MicrosToTimestamp(s.ColumnInt(7));
  c.set_certificate_pem(s.ColumnText(8));
  c.set_issued_by(s.ColumnText(9));
  if (!s.ColumnIsNull(10)) *c.mutable_revoke_time() = MicrosToTimestamp(s.ColumnInt(10));
  c.set_revocation_reason(ReasonFromText(s.ColumnText(11)));
  return row;
}

constexpr char kSelectOperator[] = "SELECT id, name, role, created_us, revoked_us FROM operators ";

OperatorRow OperatorFromRow(const common::Statement& s) {
  OperatorRow row;
  row.id = s.ColumnInt(0);
  row.op.set_name(s.ColumnText(1));
  row.op.set_role(RoleFromText(s.ColumnText(2)));
  *row.op.mutable_create_time() = MicrosToTimestamp(s.ColumnInt(3));
  if (!s.ColumnIsNull(4)) *row.op.mutable_revoke_time() = MicrosToTimestamp(s.ColumnInt(4));
  return row;
}

constexpr char kSelectToken[] =
    "SELECT t.id, t.site_id, t.expires_us, t.used_us, s.code, t.created_us, t.created_by, "
    "t.used_by_dock, t.note FROM enrollment_tokens t JOIN sites s ON s.id = t.site_id ";

TokenRow TokenFromRow(const common::Statement& s) {
  TokenRow row;
  row.id = s.ColumnInt(0);
  row.site_id = s.ColumnInt(1);
  row.expires_us = s.ColumnInt(2);
  row.used = !s.ColumnIsNull(3);
  v1::EnrollmentToken& t = row.token;
  t.set_id(row.id);
  t.set_site_code(s.ColumnText(4));
  *t.mutable_create_time() = MicrosToTimestamp(s.ColumnInt(5));
  t.set_created_by(s.ColumnText(6));
  *t.mutable_expire_time() = MicrosToTimestamp(row.expires_us);
  if (row.used) *t.mutable_use_time() = MicrosToTimestamp(s.ColumnInt(3));
  t.set_used_by_dock(s.ColumnText(7));
  t.set_note(s.ColumnText(8));
  return row;
}

// The dock's current certificate is its newest unrevoked one.
constexpr char kSelectDock[] =
    "SELECT d.id, d.site_id, d.revoked_us, d.dock_id, s.code, d.enrolled_us, d.last_contact_us, "
    "COALESCE(c.serial, ''), c.not_after_us, d.slot_count, COALESCE(ds.agent_version, ''), "
    "COALESCE(ds.backlog_items, 0), COALESCE(ds.backlog_bytes, 0), ds.reported_us "
    "FROM docks d JOIN sites s ON s.id = d.site_id "
    "LEFT JOIN dock_status ds ON ds.dock_id = d.id "
    "LEFT JOIN certificates c ON c.id = (SELECT MAX(id) FROM certificates "
    "  WHERE role = 'dock' AND identity = d.dock_id AND revoked_us IS NULL) ";

DockRow DockFromRow(const common::Statement& s) {
  DockRow row;
  row.id = s.ColumnInt(0);
  row.site_id = s.ColumnInt(1);
  row.revoked = !s.ColumnIsNull(2);
  v1::Dock& d = row.dock;
  d.set_dock_id(s.ColumnText(3));
  d.set_site_code(s.ColumnText(4));
  *d.mutable_enroll_time() = MicrosToTimestamp(s.ColumnInt(5));
  if (!s.ColumnIsNull(6)) *d.mutable_last_contact_time() = MicrosToTimestamp(s.ColumnInt(6));
  if (row.revoked) *d.mutable_revoke_time() = MicrosToTimestamp(s.ColumnInt(2));
  d.set_certificate_serial(s.ColumnText(7));
  if (!s.ColumnIsNull(8)) *d.mutable_certificate_not_after() = MicrosToTimestamp(s.ColumnInt(8));
  d.set_slot_count(static_cast<int32_t>(s.ColumnInt(9)));
  d.set_agent_version(s.ColumnText(10));
  d.set_backlog_items(static_cast<uint64_t>(s.ColumnInt(11)));
  d.set_backlog_bytes(static_cast<uint64_t>(s.ColumnInt(12)));
  if (!s.ColumnIsNull(13)) *d.mutable_report_time() = MicrosToTimestamp(s.ColumnInt(13));
  return row;
}

}  // namespace

std::string RoleText(v1::Role role) {
  std::string text = Suffix(v1::Role_Name(role), sizeof("ROLE_") - 1);
  for (char& c : text) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return text;
}

v1::Role RoleFromText(absl::string_view text) {
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string upper = absl::StrCat("ROLE_", text);
  for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  v1::Role_Parse(upper, &role);
  return role;
}

const char* ReasonText(v1::RevocationReason reason) {
  return Suffix(v1::RevocationReason_Name(reason), sizeof("REVOCATION_REASON_") - 1);
}

CertificateRecord CertificateRecordOf(const provisioning::IssuedCertificate& cert,
                                      absl::string_view issued_by) {
  CertificateRecord r;
  r.serial = cert.info.serial_hex;
  r.role = std::string(provisioning::RoleName(cert.info.role));
  r.identity = cert.info.identity;
  r.subject = absl::StrCat("CN=", cert.info.subject_cn);
  r.key_fingerprint = cert.info.key_fingerprint;
  r.not_before_us = common::ToMicros(cert.info.not_before);
  r.not_after_us = common::ToMicros(cert.info.not_after);
  r.pem = cert.pem;
  r.issued_by = std::string(issued_by);
  return r;
}

absl::StatusOr<CertificateRow> InsertCertificate(WriteTx& tx, const CertificateRecord& r) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO certificates (serial, role, identity, subject, "
                                   "key_fingerprint, not_before_us, not_after_us, pem, issued_us, "
                                   "issued_by, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, r.serial)
      .Bind(2, r.role)
      .Bind(3, r.identity)
      .Bind(4, r.subject)
      .Bind(5, r.key_fingerprint)
      .Bind(6, r.not_before_us)
      .Bind(7, r.not_after_us)
      .Bind(8, r.pem)
      .Bind(9, common::ToMicros(tx.now()))
      .Bind(10, r.issued_by)
      .Bind(11, r.source);
  RETURN_IF_ERROR(
      RunInsert(s, absl::StrCat("a certificate with serial ", r.serial, " is already recorded")));
  return FindCertificate(tx.db(), r.serial);
}

absl::StatusOr<CertificateRow> FindCertificate(common::Database& db, const std::string& serial) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectCertificate, "WHERE serial = ?")));
  s.Bind(1, serial);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("certificate ", serial, " does not exist"));
  return CertificateFromRow(s);
}

namespace {

// The statement ListCertificates runs for `f`. Only the filters given are in it: a term like
// "(?7 = '' OR subject = ...)" keeps SQLite from using an index whatever ?7 is, so the subject
// and relayed-by lists would read the whole table (newest first) to find a few rows. With them
// as plain equalities, certificates_by_subject and certificates_by_issuer (migration 0009)
// give the rows in id order directly.
absl::StatusOr<common::Statement> PrepareCertificateList(common::Database& db,
                                                         const CertificateFilter& f) {
  std::string where = "WHERE (?3 OR revoked_us IS NULL) AND (?4 IS NULL OR id < ?4) ";
  // With a subject or relayed-by filter, role and identity are checked on the rows that index
  // finds ("+" keeps SQLite from picking certificates_by_identity for a role alone).
  const char* plus = f.issued_by.empty() && f.subject_cn.empty() ? "" : "+";
  if (!f.role.empty()) absl::StrAppend(&where, "AND ", plus, "role = ?1 ");
  if (!f.identity.empty()) absl::StrAppend(&where, "AND ", plus, "identity = ?2 ");
  if (!f.issued_by.empty()) absl::StrAppend(&where, "AND issued_by = ?6 ");
  if (!f.subject_cn.empty()) absl::StrAppend(&where, "AND subject = 'CN=' || ?7 ");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectCertificate, where,
                                                                "ORDER BY id DESC LIMIT ?5")));
  s.Bind(3, int64_t{f.include_revoked ? 1 : 0})
      .BindOptional(4, f.before_id)
      .Bind(5, int64_t{f.limit});
  // Only the parameters the statement names can be bound.
  if (!f.role.empty()) s.Bind(1, f.role);
  if (!f.identity.empty()) s.Bind(2, f.identity);
  if (!f.issued_by.empty()) s.Bind(6, f.issued_by);
  if (!f.subject_cn.empty()) s.Bind(7, f.subject_cn);
  return s;
}

}  // namespace

absl::StatusOr<std::vector<CertificateRow>> ListCertificates(common::Database& db,
                                                             const CertificateFilter& f) {
  ASSIGN_OR_RETURN(common::Statement s, PrepareCertificateList(db, f));
  return CollectRows<CertificateRow>(s, CertificateFromRow);
}

absl::Status RevokeCertificate(WriteTx& tx, int64_t id, v1::RevocationReason reason,
                               const std::string& revoked_by) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE certificates SET revoked_us = ?, revocation_reason = ?, "
                                   "revoked_by = ? WHERE id = ? AND revoked_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, ReasonText(reason)).Bind(3, revoked_by).Bind(4, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError("the certificate is already revoked");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RevokedEntry>> ListRevoked(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT serial, revoked_us, revocation_reason, not_after_us, "
                              "key_fingerprint FROM certificates WHERE revoked_us IS NOT NULL "
                              "ORDER BY revoked_us, id"));
  return CollectRows<RevokedEntry>(s, [](const common::Statement& st) {
    return RevokedEntry{st.ColumnText(0), st.ColumnInt(1), ReasonFromText(st.ColumnText(2)),
                        st.ColumnInt(3), st.ColumnText(4)};
  });
}

absl::StatusOr<OperatorRow> InsertOperator(WriteTx& tx, const std::string& name,
                                           const std::string& role, const std::string& created_by) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO operators (name, role, created_us, created_by) "
                                   "VALUES (?, ?, ?, ?)"));
  s.Bind(1, name).Bind(2, role).Bind(3, common::ToMicros(tx.now())).Bind(4, created_by);
  RETURN_IF_ERROR(RunInsert(s, absl::StrCat("operator '", name, "' already exists")));
  return FindOperator(tx.db(), name);
}

absl::StatusOr<OperatorRow> FindOperator(common::Database& db, const std::string& name) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectOperator, "WHERE name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("operator '", name, "' does not exist"));
  return OperatorFromRow(s);
}

absl::StatusOr<std::vector<OperatorRow>> ListOperators(common::Database& db, bool include_revoked,
                                                       const KeyPage& page) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectOperator,
                                           "WHERE (?1 OR revoked_us IS NULL) AND name > ?2 "
                                           "ORDER BY name LIMIT ?3")));
  s.Bind(1, int64_t{include_revoked ? 1 : 0}).Bind(2, page.after).Bind(3, int64_t{page.limit});
  return CollectRows<OperatorRow>(s, OperatorFromRow);
}

absl::Status MarkOperatorRevoked(WriteTx& tx, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE operators SET revoked_us = ? WHERE id = ? "
                                   "AND revoked_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError("the operator is already revoked");
  }
  return absl::OkStatus();
}

absl::StatusOr<TokenRow> InsertToken(WriteTx& tx, const std::string& token_hash, int64_t site_id,
                                     const std::string& note, int64_t expires_us,
                                     const std::string& created_by) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare("INSERT INTO enrollment_tokens (token_hash, site_id, note, "
                      "created_us, created_by, expires_us) VALUES (?, ?, ?, ?, ?, ?)"));
  s.BindBlob(1, token_hash)
      .Bind(2, site_id)
      .Bind(3, note)
      .Bind(4, common::ToMicros(tx.now()))
      .Bind(5, created_by)
      .Bind(6, expires_us);
  RETURN_IF_ERROR(s.Run());
  ASSIGN_OR_RETURN(std::optional<TokenRow> row, FindTokenByHash(tx.db(), token_hash));
  if (!row.has_value()) return absl::InternalError("the token just stored cannot be read back");
  return *std::move(row);
}

absl::StatusOr<std::optional<TokenRow>> FindTokenByHash(common::Database& db,
                                                        const std::string& token_hash) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectToken, "WHERE t.token_hash = ?")));
  s.BindBlob(1, token_hash);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<TokenRow>();
  return std::optional<TokenRow>(TokenFromRow(s));
}

absl::Status MarkTokenUsed(WriteTx& tx, int64_t id, const std::string& dock_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE enrollment_tokens SET used_us = ?, used_by_dock = ? "
                                   "WHERE id = ? AND used_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, dock_id).Bind(3, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) return absl::FailedPreconditionError("the token was already used");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::EnrollmentToken>> ListTokens(common::Database& db,
                                                            std::optional<int64_t> site_id,
                                                            const KeyPage& page) {
  std::optional<int64_t> before;
  if (!page.after.empty()) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(page.after, &id)) return absl::InvalidArgumentError("bad token cursor");
    before = id;
  }
  // Only the filters given are in the statement ("(?1 IS NULL OR t.site_id = ?1)" would keep
  // SQLite from seeking whatever ?1 is): a site's tokens come from enrollment_tokens_by_site
  // (migration 0012) newest first from the cursor, all tokens from the table's rowid.
  // The first page starts below the largest id, so every page is a seek from its cursor.
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectToken, "WHERE ",
                                           site_id.has_value() ? "t.site_id = ?1 AND " : "",
                                           "t.id < ?2 ORDER BY t.id DESC LIMIT ?3")));
  if (site_id.has_value()) s.Bind(1, *site_id);
  s.Bind(2, before.value_or(std::numeric_limits<int64_t>::max())).Bind(3, int64_t{page.limit});
  return CollectRows<v1::EnrollmentToken>(
      s, [](const common::Statement& st) { return TokenFromRow(st).token; });
}

absl::StatusOr<DockRow> InsertDock(WriteTx& tx, const std::string& dock_id, int64_t site_id,
                                   int slot_count, int64_t token_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO docks (dock_id, site_id, slot_count, enrolled_us, "
                                   "last_contact_us, token_id) VALUES (?, ?, ?, ?, ?, ?)"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, dock_id)
      .Bind(2, site_id)
      .Bind(3, int64_t{slot_count})
      .Bind(4, now)
      .Bind(5, now)
      .Bind(6, token_id);
  RETURN_IF_ERROR(RunInsert(
      s, absl::StrCat("dock '", dock_id, "' is already enrolled; give the new dock another id")));
  return FindDock(tx.db(), dock_id);
}

absl::StatusOr<DockRow> FindDock(common::Database& db, const std::string& dock_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectDock, "WHERE d.dock_id = ?")));
  s.Bind(1, dock_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("dock '", dock_id, "' is not enrolled"));
  return DockFromRow(s);
}

absl::StatusOr<std::vector<v1::Dock>> ListDocks(common::Database& db,
                                                std::optional<int64_t> site_id,
                                                bool include_revoked, const KeyPage& page) {
  // Only the filters given are in the statement ("(?1 IS NULL OR d.site_id IN ...)" would keep
  // SQLite from seeking on the site whatever ?1 is). A site's docks (its own, or its subtree's)
  // are found through docks_by_site (site_id, dock_id) from the cursor; the whole list walks
  // the dock ids from the cursor, and the revoked docks it skips are few.
  std::vector<std::string> where = {"d.dock_id > ?3"};
  if (site_id.has_value()) where.push_back("d.site_id IN (SELECT id FROM subtree)");
  if (!include_revoked) where.push_back("d.revoked_us IS NULL");
  std::string sql = absl::StrCat(
      site_id.has_value() ? "WITH RECURSIVE subtree(id) AS (SELECT ?1 UNION ALL "
                            "SELECT s2.id FROM sites s2 JOIN subtree t ON s2.parent_id = t.id) "
                          : "",
      kSelectDock, "WHERE ", absl::StrJoin(where, " AND "), " ORDER BY d.dock_id LIMIT ?4");
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(sql));
  if (site_id.has_value()) s.Bind(1, *site_id);
  s.Bind(3, page.after).Bind(4, int64_t{page.limit});
  ASSIGN_OR_RETURN(std::vector<DockRow> rows, CollectRows<DockRow>(s, DockFromRow));
  std::vector<v1::Dock> docks;
  docks.reserve(rows.size());
  for (DockRow& row : rows) {
    // The cameras in its slots, as the dock last reported them on the sync stream.
    ASSIGN_OR_RETURN(DockStatus status, GetDockStatus(db, row.id));
    for (v1::SlotOccupant& slot : status.slots) *row.dock.add_slots() = std::move(slot);
    docks.push_back(std::move(row.dock));
  }
  return docks;
}

absl::Status MarkDockRevoked(WriteTx& tx, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE docks SET revoked_us = ? WHERE id = ? "
                                   "AND revoked_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) return absl::FailedPreconditionError("the dock is already revoked");
  return absl::OkStatus();
}

absl::Status TouchDock(WriteTx& tx, int64_t id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE docks SET last_contact_us = ? WHERE id = ?"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, id);
  return s.Run();
}

absl::StatusOr<v1::SupplierCa> InsertSupplierCa(WriteTx& tx, const std::string& name,
                                                const std::string& subject, const std::string& pem,
                                                int64_t not_after_us,
                                                const std::string& created_by) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO supplier_cas (name, subject, pem, not_after_us, "
                                   "created_us, created_by) VALUES (?, ?, ?, ?, ?, ?)"));
  const int64_t now = common::ToMicros(tx.now());
  s.Bind(1, name)
      .Bind(2, subject)
      .Bind(3, pem)
      .Bind(4, not_after_us)
      .Bind(5, now)
      .Bind(6, created_by);
  RETURN_IF_ERROR(RunInsert(s, absl::StrCat("supplier CA '", name, "' already exists")));
  v1::SupplierCa ca;
  ca.set_name(name);
  ca.set_subject(subject);
  *ca.mutable_not_after() = MicrosToTimestamp(not_after_us);
  *ca.mutable_create_time() = MicrosToTimestamp(now);
  ca.set_created_by(created_by);
  return ca;
}

absl::StatusOr<std::vector<SupplierCaRow>> ListSupplierCas(common::Database& db,
                                                           const KeyPage& page) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT name, subject, pem, not_after_us, created_us, created_by "
                              "FROM supplier_cas WHERE name > ?1 ORDER BY name LIMIT ?2"));
  s.Bind(1, page.after).Bind(2, int64_t{page.limit});
  return CollectRows<SupplierCaRow>(s, [](const common::Statement& st) {
    SupplierCaRow row;
    row.ca.set_name(st.ColumnText(0));
    row.ca.set_subject(st.ColumnText(1));
    row.pem = st.ColumnText(2);
    *row.ca.mutable_not_after() = MicrosToTimestamp(st.ColumnInt(3));
    *row.ca.mutable_create_time() = MicrosToTimestamp(st.ColumnInt(4));
    row.ca.set_created_by(st.ColumnText(5));
    return row;
  });
}

absl::Status SetCameraCertificate(WriteTx& tx, int64_t camera_id, int64_t certificate_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO camera_certificates (camera_id, certificate_id) "
                                   "VALUES (?, ?) ON CONFLICT(camera_id) DO UPDATE SET "
                                   "certificate_id = excluded.certificate_id"));
  s.Bind(1, camera_id).Bind(2, certificate_id);
  return s.Run();
}

absl::StatusOr<std::optional<CertificateRow>> FindCameraCertificate(common::Database& db,
                                                                    int64_t camera_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectCertificate,
                                           "WHERE id = (SELECT certificate_id FROM "
                                           "camera_certificates WHERE camera_id = ?)")));
  s.Bind(1, camera_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<CertificateRow>();
  return std::optional<CertificateRow>(CertificateFromRow(s));
}

absl::StatusOr<std::optional<CertificateRow>> FindDockEnrollmentCertificate(
    common::Database& db, const std::string& dock_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectCertificate,
                                           "WHERE id = (SELECT MIN(id) FROM certificates "
                                           "WHERE role = 'dock' AND identity = ?)")));
  s.Bind(1, dock_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<CertificateRow>();
  return std::optional<CertificateRow>(CertificateFromRow(s));
}

}  // namespace camfleet::storage
