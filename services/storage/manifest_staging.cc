#include "services/storage/manifest_staging.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/audit_log.h"

namespace camfleet::storage {
namespace {

constexpr char kSelectImport[] =
    "SELECT id, manifest_sha256, actor, state, to_import, staged, published, summary, "
    "EXISTS (SELECT 1 FROM manifest_import_rows r WHERE r.import_id = i.id) "
    "FROM manifest_imports i ";

ManifestImportRecord ImportFromRow(const common::Statement& s) {
  ManifestImportRecord r;
  r.id = s.ColumnText(0);
  r.manifest_sha256 = s.ColumnText(1);
  r.actor = s.ColumnText(2);
  r.state = s.ColumnText(3);
  r.to_import = s.ColumnInt(4);
  r.staged = s.ColumnInt(5);
  r.published = s.ColumnInt(6);
  r.summary = s.ColumnBlob(7);
  r.has_staged_rows = s.ColumnInt(8) != 0;
  return r;
}

// Moves import `id` from one of `from` (SQL list of quoted states) to `to`.
absl::Status SetImportState(WriteTx& tx, const std::string& id, const char* from, const char* to) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare(absl::StrCat("UPDATE manifest_imports SET state = ?1, "
                                                "updated_us = ?2 WHERE id = ?3 AND state IN (",
                                                from, ")")));
  s.Bind(1, to).Bind(2, common::ToMicros(tx.now())).Bind(3, id);
  RETURN_IF_ERROR(s.Run());
  if (tx.db().Changes() == 1) return absl::OkStatus();
  ASSIGN_OR_RETURN(ManifestImportRecord now, FindManifestImport(tx.db(), id));
  return absl::FailedPreconditionError(absl::StrCat("manifest import ", id, " is ", now.state,
                                                    ", so it cannot become ", to));
}

}  // namespace

absl::Status CreateManifestImport(WriteTx& tx, const ManifestImportRecord& record) {
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("INSERT INTO manifest_imports (id, manifest_sha256, actor, "
                                   "state, to_import, summary, created_us, updated_us) "
                                   "VALUES (?1, ?2, ?3, 'STAGING', ?4, ?5, ?6, ?6)"));
  s.Bind(1, record.id)
      .Bind(2, record.manifest_sha256)
      .Bind(3, record.actor)
      .Bind(4, record.to_import)
      .BindBlob(5, record.summary)
      .Bind(6, common::ToMicros(tx.now()));
  return s.Run();
}

absl::Status StageCameras(WriteTx& tx, const std::string& import_id,
                          const std::vector<StagedCamera>& rows) {
  // Serials registered since the check, or staged by another import meanwhile: found before
  // anything is written, so that the error can name them (up to 5).
  std::vector<std::string> taken;
  for (const StagedCamera& row : rows) {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("SELECT EXISTS (SELECT 1 FROM cameras WHERE serial = ?1) "
                                     "OR EXISTS (SELECT 1 FROM manifest_import_rows "
                                     "WHERE serial = ?1)"));
    s.Bind(1, row.serial);
    ASSIGN_OR_RETURN(bool got, s.Step());
    if (got && s.ColumnInt(0) != 0) {
      taken.push_back(absl::StrCat("line ", row.line, ": '", row.serial, "'"));
      if (taken.size() == 5) break;
    }
  }
  if (!taken.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "serials of the manifest were registered, or staged by another import, while it was "
        "being imported (",
        absl::StrJoin(taken, ", "),
        "); nothing was imported: run the import again to see every such row"));
  }
  for (const StagedCamera& row : rows) {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("INSERT INTO manifest_import_rows (import_id, line, serial, "
                                     "model, hardware_revision, site_id) "
                                     "VALUES (?, ?, ?, ?, ?, ?)"));
    s.Bind(1, import_id)
        .Bind(2, row.line)
        .Bind(3, row.serial)
        .Bind(4, row.model)
        .Bind(5, row.hardware_revision)
        .Bind(6, row.site_id);
    RETURN_IF_ERROR(s.Run());
  }
  ASSIGN_OR_RETURN(common::Statement count,
                   tx.db().Prepare("UPDATE manifest_imports SET staged = staged + ?1, "
                                   "updated_us = ?2 WHERE id = ?3 AND state = 'STAGING'"));
  count.Bind(1, static_cast<int64_t>(rows.size()))
      .Bind(2, common::ToMicros(tx.now()))
      .Bind(3, import_id);
  RETURN_IF_ERROR(count.Run());
  if (tx.db().Changes() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest import ", import_id, " is not staging; nothing was staged"));
  }
  return absl::OkStatus();
}

absl::Status StartPublishingManifestImport(WriteTx& tx, const std::string& import_id) {
  ASSIGN_OR_RETURN(ManifestImportRecord record, FindManifestImport(tx.db(), import_id));
  if (record.staged != record.to_import) {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest import ", import_id, " staged ", record.staged, " of its ",
                     record.to_import, " rows; nothing was imported"));
  }
  // Each an index seek (one MIN and one MAX in a single SELECT would walk every row).
  ASSIGN_OR_RETURN(common::Statement ends,
                   tx.db().Prepare("SELECT (SELECT MIN(line) FROM manifest_import_rows "
                                   "WHERE import_id = ?1), (SELECT MAX(line) FROM "
                                   "manifest_import_rows WHERE import_id = ?1)"));
  ends.Bind(1, import_id);
  RETURN_IF_ERROR(ends.Step().status());
  const std::string lines = absl::StrCat(ends.ColumnInt(0), "-", ends.ColumnInt(1));
  const int64_t staged = record.staged;
  RETURN_IF_ERROR(SetImportState(tx, import_id, "'STAGING'", "PUBLISHING"));
  return Audit(tx, record.actor, "manifest.import", "manifest", record.manifest_sha256,
               {{"import", import_id}, {"cameras", absl::StrCat(staged)}, {"lines", lines}});
}

absl::StatusOr<int64_t> PublishStagedCameras(WriteTx& tx, const std::string& import_id,
                                             int limit) {
  ASSIGN_OR_RETURN(ManifestImportRecord record, FindManifestImport(tx.db(), import_id));
  if (record.state == "DONE") return int64_t{0};
  if (record.state != "PUBLISHING") {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest import ", import_id, " is ", record.state, ", not PUBLISHING"));
  }
  std::vector<StagedCamera> rows;
  std::vector<std::string> site_codes;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("SELECT r.line, r.serial, r.model, r.hardware_revision, "
                                     "r.site_id, s.code FROM manifest_import_rows r "
                                     "JOIN sites s ON s.id = r.site_id "
                                     "WHERE r.import_id = ?1 ORDER BY r.line LIMIT ?2"));
    s.Bind(1, import_id).Bind(2, int64_t{limit});
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      rows.push_back({s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2), s.ColumnText(3),
                      s.ColumnInt(4)});
      site_codes.push_back(s.ColumnText(5));
    }
  }
  if (!rows.empty()) {
    // Out of the staging first: a staged serial is reserved against inserts into cameras.
    ASSIGN_OR_RETURN(common::Statement drop,
                     tx.db().Prepare("DELETE FROM manifest_import_rows "
                                     "WHERE import_id = ?1 AND line <= ?2"));
    drop.Bind(1, import_id).Bind(2, rows.back().line);
    RETURN_IF_ERROR(drop.Run());
  }
  const int64_t now = common::ToMicros(tx.now());
  for (size_t i = 0; i < rows.size(); ++i) {
    const StagedCamera& row = rows[i];
    ASSIGN_OR_RETURN(common::Statement insert,
                     tx.db().Prepare("INSERT INTO cameras (serial, model, hardware_revision, "
                                     "state, site_id, created_us, updated_us) "
                                     "VALUES (?1, ?2, ?3, 'REGISTERED', ?4, ?5, ?5)"));
    insert.Bind(1, row.serial)
        .Bind(2, row.model)
        .Bind(3, row.hardware_revision)
        .Bind(4, row.site_id)
        .Bind(5, now);
    RETURN_IF_ERROR(insert.Run());
    // The same event a small import writes for each camera, naming the import as well.
    RETURN_IF_ERROR(Audit(tx, record.actor, "camera.register", "camera", row.serial,
                          {{"model", row.model},
                           {"hardware_revision", row.hardware_revision},
                           {"site", site_codes[i]},
                           {"manifest_line", absl::StrCat(row.line)},
                           {"import", import_id},
                           {"manifest_sha256", record.manifest_sha256}}));
  }
  bool left;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     tx.db().Prepare("SELECT EXISTS (SELECT 1 FROM manifest_import_rows "
                                     "WHERE import_id = ?)"));
    s.Bind(1, import_id);
    RETURN_IF_ERROR(s.Step().status());
    left = s.ColumnInt(0) != 0;
  }
  ASSIGN_OR_RETURN(common::Statement update,
                   tx.db().Prepare("UPDATE manifest_imports SET published = published + ?1, "
                                   "state = ?2, updated_us = ?3 WHERE id = ?4"));
  update.Bind(1, static_cast<int64_t>(rows.size()))
      .Bind(2, left ? "PUBLISHING" : "DONE")
      .Bind(3, now)
      .Bind(4, import_id);
  RETURN_IF_ERROR(update.Run());
  return static_cast<int64_t>(rows.size());
}

absl::Status AbandonManifestImport(WriteTx& tx, const std::string& import_id) {
  return SetImportState(tx, import_id, "'STAGING', 'ABANDONED'", "ABANDONED");
}

absl::StatusOr<int64_t> DropStagedCameras(WriteTx& tx, const std::string& import_id, int limit) {
  ASSIGN_OR_RETURN(ManifestImportRecord record, FindManifestImport(tx.db(), import_id));
  if (record.state != "ABANDONED") {
    return absl::FailedPreconditionError(absl::StrCat(
        "manifest import ", import_id, " is ", record.state, "; only an abandoned import's "
        "staged rows are dropped"));
  }
  ASSIGN_OR_RETURN(common::Statement s,
                   tx.db().Prepare("DELETE FROM manifest_import_rows WHERE import_id = ?1 AND "
                                   "line IN (SELECT line FROM manifest_import_rows "
                                   "WHERE import_id = ?1 ORDER BY line LIMIT ?2)"));
  s.Bind(1, import_id).Bind(2, int64_t{limit});
  RETURN_IF_ERROR(s.Run());
  return int64_t{tx.db().Changes()};
}

absl::StatusOr<std::vector<ManifestImportRecord>> UnfinishedManifestImports(
    common::Database& db) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(
          kSelectImport,
          "WHERE i.state IN ('STAGING', 'PUBLISHING') UNION ALL ", kSelectImport,
          "WHERE i.state = 'ABANDONED' AND EXISTS "
          "(SELECT 1 FROM manifest_import_rows r WHERE r.import_id = i.id)")));
  std::vector<ManifestImportRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(ImportFromRow(s));
  }
}

absl::StatusOr<ManifestImportRecord> FindManifestImport(common::Database& db,
                                                        const std::string& import_id) {
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(absl::StrCat(kSelectImport, "WHERE i.id = ?")));
  s.Bind(1, import_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("manifest import ", import_id, " does not exist"));
  }
  return ImportFromRow(s);
}

}  // namespace camfleet::storage
