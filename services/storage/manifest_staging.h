#pragma once
// Big manifest imports (services/fleet/manifest_import.h) staged in the database: the tables
// manifest_imports and manifest_import_rows (migration 0011). Every function taking a WriteTx
// runs inside a write. Readers never look at the staging tables; a staged serial is reserved
// (no one can register it, no other import can stage it) until the import publishes or drops it.
//
// An import goes STAGING -> PUBLISHING -> DONE, or STAGING -> ABANDONED. Moving to PUBLISHING is
// the commit point: every row is staged and checked, and from then on the import is finished,
// by the job or after a restart (UnfinishedImports), in chunks that each publish their cameras
// together with one camera.register audit event per camera.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

struct StagedCamera {
  int64_t line = 0;
  std::string serial;
  std::string model;
  std::string hardware_revision;
  int64_t site_id = 0;
};

struct ManifestImportRecord {
  std::string id;
  std::string manifest_sha256;  // hex
  std::string actor;            // who started it: the actor of its audit events
  std::string state;            // STAGING, PUBLISHING, DONE, ABANDONED
  int64_t to_import = 0;        // rows it stages and publishes
  int64_t staged = 0;
  int64_t published = 0;
  std::string summary;  // the check's result (a serialized v1::ImportManifestResponse)
  bool has_staged_rows = false;  // filled by UnfinishedManifestImports only
};

// Records a new import in state STAGING. ALREADY_EXISTS if the id is taken.
absl::Status CreateManifestImport(WriteTx& tx, const ManifestImportRecord& record);
// Adds `rows` to the staging of import `import_id` (in state STAGING). ALREADY_EXISTS naming up
// to 5 lines whose serial was registered, or staged by another import, since the rows were
// checked: then nothing of `rows` is staged.
absl::Status StageCameras(WriteTx& tx, const std::string& import_id,
                          const std::vector<StagedCamera>& rows);
// The commit point: STAGING -> PUBLISHING, once all `to_import` rows are staged (else
// FAILED_PRECONDITION), with a `manifest.import` audit event for the manifest.
absl::Status StartPublishingManifestImport(WriteTx& tx, const std::string& import_id);
// Publishes up to `limit` staged rows of import `import_id` (in state PUBLISHING), in line
// order: each becomes a camera (REGISTERED) with its `camera.register` audit event, and leaves
// the staging. The import is DONE in the transaction that publishes its last row. Returns how
// many were published (0 once the import is done).
absl::StatusOr<int64_t> PublishStagedCameras(WriteTx& tx, const std::string& import_id,
                                             int limit);
// STAGING (or ABANDONED) -> ABANDONED; its staged rows are left to DropStagedCameras.
// FAILED_PRECONDITION for an import that is publishing or done.
absl::Status AbandonManifestImport(WriteTx& tx, const std::string& import_id);
// Deletes up to `limit` staged rows of an ABANDONED import; returns how many it deleted.
absl::StatusOr<int64_t> DropStagedCameras(WriteTx& tx, const std::string& import_id, int limit);
// Imports a restart must take up: STAGING or PUBLISHING, and ABANDONED with staged rows left.
absl::StatusOr<std::vector<ManifestImportRecord>> UnfinishedManifestImports(common::Database& db);
// The import `import_id`. NOT_FOUND naming it.
absl::StatusOr<ManifestImportRecord> FindManifestImport(common::Database& db,
                                                        const std::string& import_id);

}  // namespace camfleet::storage
