#pragma once
// Manifest imports too big for one write (a delivery of 250,000 cameras) that neither stall the
// fleet nor give up all-or-nothing.
//
// A job runs on a thread of its own, in phases the caller can poll (GetManifestImport):
//   CHECKING    every row against the store (site exists, serial new), in reads of
//               `check_rows` serials, each its own short read transaction;
//   STAGING     the good rows into the table manifest_import_rows (storage/manifest_staging.h,
//               migration 0011), in writes of `chunk_rows` rows: each is an ordinary write on
//               the writer's queue, so issues and returns queued meanwhile go between two
//               chunks. Staged rows are seen by no reader, and a staged serial is reserved (no
//               one can register it, no other import can stage it): each chunk re-checks its
//               serials in its own write, so a serial registered since CHECKING fails the import
//               with ALREADY_EXISTS naming it, and the import is abandoned (nothing imported);
//   COMMITTING  one tiny write moves the import to PUBLISHING (the commit point: from here on
//               it will finish, whatever happens), then writes of `chunk_rows` rows publish the
//               staged rows into `cameras`, each camera with its own `camera.register` audit
//               event in the same transaction (as a small import writes), so every camera is
//               found by its serial in the audit trail. Issues and returns go between the
//               chunks here too. Cameras become visible chunk by chunk: the import is decided
//               (all of it will be there) but not yet all published;
//   DONE        with the result ImportManifest answers.
// A restart (or a crash) cuts a job between two writes. The next ManifestImporter on the store
// takes it up: an import still STAGING is abandoned and its staged rows dropped (nothing was
// visible; polling its id answers that nothing was imported), an import PUBLISHING is finished
// under the same id, which can be polled as before. So an import is all or nothing.
// Dry runs and manifests with bad rows (without `partial`) end after CHECKING, writing nothing.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "camfleet/v1/fleet.pb.h"
#include "common/sqlite.h"
#include "services/fleet/manifest.h"
#include "services/rpc/identity.h"
#include "services/storage/store.h"

namespace camfleet::fleet {

// Rows checked against the store: what ImportManifest reports and what it may import.
struct ManifestCheck {
  absl::flat_hash_map<std::string, int64_t> site_ids;  // 0: no such site
  std::vector<v1::ManifestRowError> errors;             // the store's findings
  absl::flat_hash_set<int64_t> bad_lines;               // lines the store refused
  std::vector<size_t> good;                             // indexes into manifest.rows
};

// Checks manifest.rows[begin, end) against `db`, adding to `check`.
absl::Status CheckManifestRows(common::Database& db, const ParsedManifest& manifest, size_t begin,
                               size_t end, ManifestCheck& check);
// The response of a checked manifest (rows, bad rows, the errors in line order, capped at
// kMaxListedManifestErrors with the rest counted); `imported` is left 0.
v1::ImportManifestResponse SummarizeManifestCheck(const ParsedManifest& manifest,
                                                  ManifestCheck& check);

struct ManifestImportOptions {
  int chunk_rows = 2000;   // rows per staging write and per publishing write
  int check_rows = 5000;   // rows per checking read
  int max_running = 2;     // jobs at once; more are refused UNAVAILABLE
  absl::Duration keep_finished = absl::Hours(1);  // a finished job can be polled this long
};

class ManifestImporter {
 public:
  using OnDone = absl::AnyInvocable<void(absl::StatusOr<v1::ImportManifestResponse>)>;

  // Takes up the imports a restart cut (see above), each on a thread of its own.
  explicit ManifestImporter(storage::Store& store, ManifestImportOptions options = {});
  // Stops running jobs between two writes and waits for them: an import still staging is
  // abandoned (its staged rows are dropped by the next ManifestImporter on the store), one
  // publishing is finished by the next one.
  ~ManifestImporter();
  ManifestImporter(const ManifestImporter&) = delete;
  ManifestImporter& operator=(const ManifestImporter&) = delete;

  // Starts a job for `manifest` (parsed, with its CSV's SHA-256 in hex); `on_done` (may be
  // empty) gets its result on the job's thread. Returns the job's id. UNAVAILABLE when
  // max_running jobs are running.
  absl::StatusOr<std::string> Start(const rpc::Identity& who,
                                    std::shared_ptr<const ParsedManifest> manifest,
                                    std::string manifest_sha256, bool partial, bool dry_run,
                                    OnDone on_done = nullptr);
  // The job's progress, and once done its result (or its error as the status).
  // NOT_FOUND for an unknown or forgotten id.
  absl::StatusOr<v1::GetManifestImportResponse> Get(const std::string& id);

 private:
  struct Job;
  void Run(const std::shared_ptr<Job>& job);
  absl::StatusOr<v1::ImportManifestResponse> Import(Job& job);
  // Stages job.manifest's rows `good` (indexes into its rows) as import job.id.
  absl::Status Stage(Job& job, const std::vector<size_t>& good, const ManifestCheck& check,
                     const v1::ImportManifestResponse& summary);
  // Publishes what import `job.id` has staged, until it is done (or the importer stops).
  absl::Status Publish(Job& job);
  // Marks import `id` abandoned and drops its staged rows.
  void Abandon(const std::string& id);
  // Takes up the imports cut by a restart.
  void Recover();
  bool Stopping();

  storage::Store& store_;
  const ManifestImportOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace camfleet::fleet
