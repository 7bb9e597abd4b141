#include "services/storage/firmware_repository.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/rows.h"

namespace camfleet::storage {
namespace {

constexpr char kSelectKey[] =
    "SELECT key_id, name, public_key_pem, added_us, added_by, retired_us, "
    "COALESCE(retired_by, ''), COALESCE(retire_reason, '') FROM firmware_keys ";

v1::SigningKey KeyFromRow(const common::Statement& s) {
  v1::SigningKey k;
  k.set_key_id(s.ColumnText(0));
  k.set_name(s.ColumnText(1));
  k.set_public_key_pem(s.ColumnText(2));
  *k.mutable_add_time() = MicrosToTimestamp(s.ColumnInt(3));
  k.set_added_by(s.ColumnText(4));
  if (!s.ColumnIsNull(5)) *k.mutable_retire_time() = MicrosToTimestamp(s.ColumnInt(5));
  k.set_retired_by(s.ColumnText(6));
  k.set_retire_reason(s.ColumnText(7));
  return k;
}

#define CAMFLEET_RELEASE_COLUMNS                                                               \
  "SELECT r.id, r.release_id, r.version, r.image_sha256, r.image_size, r.compressed_size, "    \
  "r.min_battery_percent, r.allow_downgrade, r.release_notes, r.signed_us, r.signing_key_id, " \
  "r.manifest, r.signature, r.uploaded_us, r.uploaded_by, r.withdrawn_us, "                    \
  "COALESCE(r.withdrawn_by, ''), COALESCE(r.withdraw_reason, '')"
constexpr char kSelectRelease[] = CAMFLEET_RELEASE_COLUMNS " FROM firmware_releases r ";
// The same with the sort key's version after the release's columns (18, 19, 20).
constexpr char kSelectReleaseKeyed[] = CAMFLEET_RELEASE_COLUMNS
    ", r.version_major, r.version_minor, r.version_patch FROM firmware_releases r ";
#undef CAMFLEET_RELEASE_COLUMNS

absl::StatusOr<v1::FirmwareRelease> ReleaseFromRow(common::Database& db,
                                                   const common::Statement& s) {
  v1::FirmwareRelease r;
  const int64_t id = s.ColumnInt(0);
  r.set_release_id(s.ColumnText(1));
  r.set_version(s.ColumnText(2));
  r.set_image_sha256(s.ColumnText(3));
  r.set_image_size_bytes(static_cast<uint64_t>(s.ColumnInt(4)));
  r.set_compressed_size_bytes(static_cast<uint64_t>(s.ColumnInt(5)));
  r.set_min_battery_percent(static_cast<uint32_t>(s.ColumnInt(6)));
  r.set_allow_downgrade(s.ColumnInt(7) != 0);
  r.set_release_notes(s.ColumnText(8));
  *r.mutable_sign_time() = MicrosToTimestamp(s.ColumnInt(9));
  r.set_signing_key_id(s.ColumnText(10));
  r.set_manifest(s.ColumnBlob(11));
  r.set_signature(s.ColumnBlob(12));
  *r.mutable_upload_time() = MicrosToTimestamp(s.ColumnInt(13));
  r.set_uploaded_by(s.ColumnText(14));
  if (!s.ColumnIsNull(15)) *r.mutable_withdraw_time() = MicrosToTimestamp(s.ColumnInt(15));
  r.set_withdrawn_by(s.ColumnText(16));
  r.set_withdraw_reason(s.ColumnText(17));
  ASSIGN_OR_RETURN(common::Statement m,
                   db.Prepare("SELECT model FROM firmware_release_models WHERE release_id = ? "
                              "ORDER BY model"));
  m.Bind(1, id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, m.Step());
    if (!row) break;
    r.add_models(m.ColumnText(0));
  }
  ASSIGN_OR_RETURN(common::Statement d,
                   db.Prepare("SELECT f.release_id, f.version, f.image_sha256, d.delta_size "
                              "FROM firmware_deltas d JOIN firmware_releases f "
                              "ON f.id = d.from_release_id WHERE d.release_id = ? "
                              "ORDER BY f.version_major DESC, f.version_minor DESC, "
                              "f.version_patch DESC"));
  d.Bind(1, id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, d.Step());
    if (!row) break;
    v1::FirmwareDelta* delta = r.add_deltas();
    delta->set_from_release_id(d.ColumnText(0));
    delta->set_from_version(d.ColumnText(1));
    delta->set_from_image_sha256(d.ColumnText(2));
    delta->set_size_bytes(static_cast<uint64_t>(d.ColumnInt(3)));
  }
  return r;
}

absl::StatusOr<std::optional<v1::FirmwareRelease>> First(common::Database& db,
                                                         common::Statement& s) {
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::FirmwareRelease r, ReleaseFromRow(db, s));
  return r;
}

// A LIKE pattern matching ids that start with `prefix` (hex only, so no escaping needed).
std::string PrefixPattern(const std::string& prefix) { return prefix + "%"; }

}  // namespace

absl::Status InsertSigningKey(WriteTx& tx, const std::string& key_id, const std::string& name,
                              const std::string& public_key_pem, const std::string& added_by) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO firmware_keys (key_id, name, public_key_pem, "
                                   "added_us, added_by) VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, key_id)
      .Bind(2, name)
      .Bind(3, public_key_pem)
      .Bind(4, common::ToMicros(tx.now()))
      .Bind(5, added_by);
  absl::Status st = s.Run();
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a signing key with id ", key_id.substr(0, 16), "... or name '", name,
        "' is known already (retired keys stay known); see camfleet firmware key list"));
  }
  return st;
}

absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectKey, "ORDER BY id")));
  std::vector<v1::SigningKey> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(KeyFromRow(s));
  }
  return out;
}

absl::StatusOr<v1::SigningKey> FindSigningKey(common::Database& db, const std::string& prefix) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectKey, "WHERE key_id LIKE ? ORDER BY id LIMIT 2")));
  s.Bind(1, PrefixPattern(prefix));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("no signing key with id ", prefix, "; see camfleet firmware key list"));
  }
  v1::SigningKey key = KeyFromRow(s);
  ASSIGN_OR_RETURN(bool second, s.Step());
  if (second) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_id: '", prefix, "' matches several keys; give more digits"));
  }
  return key;
}

absl::Status RetireSigningKey(WriteTx& tx, const std::string& key_id, const std::string& by,
                              const std::string& reason) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE firmware_keys SET retired_us = ?, retired_by = ?, "
                                   "retire_reason = ? WHERE key_id = ? AND retired_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, by).Bind(3, reason).Bind(4, key_id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("signing key ", key_id.substr(0, 16), "... is retired already"));
  }
  return absl::OkStatus();
}

absl::Status InsertRelease(WriteTx& tx, const ReleaseRecord& record,
                           const std::vector<DeltaRecord>& deltas, const std::string& by) {
  const v1::FirmwareRelease& r = record.release;
  ASSIGN_OR_RETURN(
      common::Statement s,
      tx.db().Prepare(
          "INSERT INTO firmware_releases (release_id, version, version_major, version_minor, "
          "version_patch, image_sha256, image_size, compressed_sha256, compressed_size, "
          "min_battery_percent, allow_downgrade, release_notes, signed_us, signing_key_id, "
          "manifest, signature, uploaded_us, uploaded_by) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, r.release_id())
      .Bind(2, r.version())
      .Bind(3, record.version.major)
      .Bind(4, record.version.minor)
      .Bind(5, record.version.patch)
      .Bind(6, r.image_sha256())
      .Bind(7, static_cast<int64_t>(r.image_size_bytes()))
      .Bind(8, record.compressed_sha256)
      .Bind(9, static_cast<int64_t>(r.compressed_size_bytes()))
      .Bind(10, int64_t{r.min_battery_percent()})
      .Bind(11, int64_t{r.allow_downgrade() ? 1 : 0})
      .Bind(12, r.release_notes())
      .Bind(13, google::protobuf::util::TimeUtil::TimestampToMicroseconds(r.sign_time()))
      .Bind(14, r.signing_key_id())
      .BindBlob(15, r.manifest())
      .BindBlob(16, r.signature())
      .Bind(17, common::ToMicros(tx.now()))
      .Bind(18, by);
  RETURN_IF_ERROR(s.Run());
  const int64_t id = tx.db().LastInsertRowId();
  for (const std::string& model : r.models()) {
    ASSIGN_OR_RETURN(common::Statement m,
                     tx.db().Prepare("INSERT INTO firmware_release_models (release_id, model, "
                                     "version_major, version_minor, version_patch) "
                                     "VALUES (?, ?, ?, ?, ?)"));
    m.Bind(1, id)
        .Bind(2, model)
        .Bind(3, record.version.major)
        .Bind(4, record.version.minor)
        .Bind(5, record.version.patch);
    if (absl::Status st = m.Run(); !st.ok()) {
      if (absl::IsAlreadyExists(st)) {
        return absl::AlreadyExistsError(
            absl::StrCat("model ", model, " already has a release ", r.version(),
                         " with other contents; give the new build a new version"));
      }
      return st;
    }
  }
  for (const DeltaRecord& d : deltas) {
    ASSIGN_OR_RETURN(common::Statement ds,
                     tx.db().Prepare("INSERT INTO firmware_deltas (release_id, from_release_id, "
                                     "delta_sha256, delta_size) SELECT ?, id, ?, ? FROM "
                                     "firmware_releases WHERE release_id = ?"));
    ds.Bind(1, id).Bind(2, d.delta_sha256).Bind(3, d.delta_size).Bind(4, d.from_release_id);
    RETURN_IF_ERROR(ds.Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::FirmwareRelease>> FindRelease(common::Database& db,
                                                               const std::string& release_id,
                                                               bool allow_prefix) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(kSelectRelease, allow_prefix ? "WHERE r.release_id LIKE ? LIMIT 2"
                                                           : "WHERE r.release_id = ?")));
  s.Bind(1, allow_prefix ? PrefixPattern(release_id) : release_id);
  ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> r, First(db, s));
  if (r.has_value() && allow_prefix) {
    ASSIGN_OR_RETURN(bool second, s.Step());
    if (second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "release_id: '", release_id, "' matches several releases; give more digits"));
    }
  }
  return r;
}

absl::StatusOr<std::optional<std::string>> FindReleaseIdFor(common::Database& db,
                                                            const std::string& model,
                                                            const ReleaseVersion& v) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT r.release_id FROM firmware_release_models m "
                              "JOIN firmware_releases r ON r.id = m.release_id WHERE m.model = ? "
                              "AND m.version_major = ? AND m.version_minor = ? "
                              "AND m.version_patch = ?"));
  s.Bind(1, model).Bind(2, v.major).Bind(3, v.minor).Bind(4, v.patch);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  return s.ColumnText(0);
}

absl::StatusOr<std::optional<v1::FirmwareRelease>> NewestReleaseOf(common::Database& db,
                                                                   const std::string& model,
                                                                   bool include_withdrawn) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectRelease,
                                           "JOIN firmware_release_models m ON m.release_id = r.id "
                                           "WHERE m.model = ? AND (? OR r.withdrawn_us IS NULL) "
                                           "ORDER BY m.version_major DESC, m.version_minor DESC, "
                                           "m.version_patch DESC LIMIT 1")));
  s.Bind(1, model).Bind(2, int64_t{include_withdrawn ? 1 : 0});
  return First(db, s);
}

absl::StatusOr<std::optional<v1::FirmwareRelease>> PreviousReleaseOf(common::Database& db,
                                                                     const std::string& model,
                                                                     const ReleaseVersion& v) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(
          kSelectRelease,
          "JOIN firmware_release_models m ON m.release_id = r.id "
          "WHERE m.model = ?1 AND r.withdrawn_us IS NULL AND (m.version_major < ?2 OR "
          "(m.version_major = ?2 AND (m.version_minor < ?3 OR "
          "(m.version_minor = ?3 AND m.version_patch < ?4)))) "
          "ORDER BY m.version_major DESC, m.version_minor DESC, m.version_patch DESC LIMIT 1")));
  s.Bind(1, model).Bind(2, v.major).Bind(3, v.minor).Bind(4, v.patch);
  return First(db, s);
}

absl::StatusOr<ReleasePage> ListReleases(common::Database& db, const std::string& model,
                                         bool include_withdrawn,
                                         const std::optional<ReleaseCursor>& after, int limit) {
  // Keyset paging on the sort key itself: a release uploaded between two pages lands where
  // its version sorts and never shifts or repeats what the next page holds.
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(
          kSelectReleaseKeyed,
          "WHERE (?1 = '' OR EXISTS (SELECT 1 FROM firmware_release_models m "
          "WHERE m.release_id = r.id AND m.model = ?1)) AND (?2 OR r.withdrawn_us IS NULL) "
          "AND (?3 = 0 OR (r.version_major, r.version_minor, r.version_patch, r.id) < "
          "(?4, ?5, ?6, ?7)) "
          "ORDER BY r.version_major DESC, r.version_minor DESC, r.version_patch DESC, r.id DESC "
          "LIMIT ?8")));
  s.Bind(1, model)
      .Bind(2, int64_t{include_withdrawn ? 1 : 0})
      .Bind(3, int64_t{after.has_value() ? 1 : 0})
      .Bind(4, after.has_value() ? after->version.major : 0)
      .Bind(5, after.has_value() ? after->version.minor : 0)
      .Bind(6, after.has_value() ? after->version.patch : 0)
      .Bind(7, after.has_value() ? after->id : 0)
      .Bind(8, int64_t{limit});
  ReleasePage page;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::FirmwareRelease r, ReleaseFromRow(db, s));
    page.releases.push_back(std::move(r));
    page.keys.push_back(
        {{s.ColumnInt(18), s.ColumnInt(19), s.ColumnInt(20)}, s.ColumnInt(0)});
  }
  return page;
}

absl::Status WithdrawRelease(WriteTx& tx, const std::string& release_id, const std::string& by,
                             const std::string& reason) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("UPDATE firmware_releases SET withdrawn_us = ?, "
                                   "withdrawn_by = ?, withdraw_reason = ? "
                                   "WHERE release_id = ? AND withdrawn_us IS NULL"));
  s.Bind(1, common::ToMicros(tx.now())).Bind(2, by).Bind(3, reason).Bind(4, release_id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", release_id.substr(0, 16), "... is withdrawn already"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CompressedDigestOf(common::Database& db,
                                               const std::string& release_id) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT compressed_sha256 FROM firmware_releases "
                              "WHERE release_id = ?"));
  s.Bind(1, release_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no release ", release_id));
  return s.ColumnText(0);
}

absl::StatusOr<std::optional<std::string>> DeltaDigestFrom(common::Database& db,
                                                           const std::string& release_id,
                                                           const std::string& from_image_sha256) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT d.delta_sha256 FROM firmware_deltas d "
                              "JOIN firmware_releases r ON r.id = d.release_id "
                              "JOIN firmware_releases f ON f.id = d.from_release_id "
                              "WHERE r.release_id = ? AND f.image_sha256 = ? LIMIT 1"));
  s.Bind(1, release_id).Bind(2, from_image_sha256);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  return s.ColumnText(0);
}

absl::StatusOr<FirmwareGarbage> DropFirmwareGarbage(WriteTx& tx) {
  common::Database& db = tx.db();
  FirmwareGarbage out;
  // Whether the release whose row id is in `column` has an unfinished rollout.
  auto unfinished = [](absl::string_view column) {
    return absl::StrCat("EXISTS (SELECT 1 FROM rollouts o WHERE o.release_id = ", column,
                        " AND o.state NOT IN ('COMPLETED', 'ABORTED'))");
  };
  std::set<int64_t> collectable;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare(absl::StrCat(
                         "SELECT r.id, r.release_id, r.image_sha256, r.compressed_sha256 "
                         "FROM firmware_releases r WHERE r.withdrawn_us IS NOT NULL AND NOT ",
                         unfinished("r.id"), " ORDER BY r.id")));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      collectable.insert(s.ColumnInt(0));
      out.collectable_release_ids.push_back(s.ColumnText(1));
      out.collectable_digests.insert(s.ColumnText(2));
      out.collectable_digests.insert(s.ColumnText(3));
    }
  }
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare(absl::StrCat(
                         "SELECT d.release_id, d.from_release_id, f.release_id, t.release_id, "
                         "d.delta_sha256, ", unfinished("d.release_id"),
                         " FROM firmware_deltas d JOIN firmware_releases f ON f.id = "
                         "d.from_release_id JOIN firmware_releases t ON t.id = d.release_id "
                         "ORDER BY d.release_id, d.from_release_id")));
    std::vector<std::pair<int64_t, int64_t>> doomed;
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const int64_t to = s.ColumnInt(0);
      const int64_t from = s.ColumnInt(1);
      const bool target_needed = s.ColumnInt(5) != 0;
      if (collectable.contains(to) || (collectable.contains(from) && !target_needed)) {
        doomed.emplace_back(to, from);
        out.dropped_deltas.emplace_back(s.ColumnText(2), s.ColumnText(3));
        out.dropped_digests.insert(s.ColumnText(4));
      }
    }
    for (const auto& [to, from] : doomed) {
      ASSIGN_OR_RETURN(common::Statement del,
                       db.Prepare("DELETE FROM firmware_deltas WHERE release_id = ? AND "
                                  "from_release_id = ?"));
      del.Bind(1, to).Bind(2, from);
      RETURN_IF_ERROR(del.Run());
    }
  }
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare("SELECT id, image_sha256, compressed_sha256 FROM firmware_releases"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      if (collectable.contains(s.ColumnInt(0))) continue;
      out.live_digests.insert(s.ColumnText(1));
      out.live_digests.insert(s.ColumnText(2));
    }
    ASSIGN_OR_RETURN(common::Statement d, db.Prepare("SELECT delta_sha256 FROM firmware_deltas"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, d.Step());
      if (!row) break;
      out.live_digests.insert(d.ColumnText(0));
    }
  }
  return out;
}

absl::StatusOr<bool> ModelKnown(common::Database& db, const std::string& model) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT 1 FROM cameras WHERE model = ? LIMIT 1"));
  s.Bind(1, model);
  return s.Step();
}

}  // namespace camfleet::storage
