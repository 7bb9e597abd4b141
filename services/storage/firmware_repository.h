#pragma once
// SQL for signed firmware (migration 0005): trusted signing keys, release metadata and deltas.
// The image bytes are not here: they live in the content-addressed store on disk
// (services/firmware/image_store.h), and rows name them by SHA-256.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/firmware.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// ALREADY_EXISTS if the key id or name is taken.
absl::Status InsertSigningKey(WriteTx& tx, const std::string& key_id, const std::string& name,
                              const std::string& public_key_pem, const std::string& added_by);
absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(common::Database& db);
// The key whose id starts with `prefix` (>= 8 hex digits). NOT_FOUND; INVALID_ARGUMENT if the
// prefix is ambiguous.
absl::StatusOr<v1::SigningKey> FindSigningKey(common::Database& db, const std::string& prefix);
absl::Status RetireSigningKey(WriteTx& tx, const std::string& key_id, const std::string& by,
                              const std::string& reason);

struct ReleaseVersion {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t patch = 0;
};

struct ReleaseRecord {
  v1::FirmwareRelease release;  // every field but deltas, upload and withdraw
  ReleaseVersion version;
  std::string compressed_sha256;
};

struct DeltaRecord {
  std::string from_release_id;
  std::string delta_sha256;
  int64_t delta_size = 0;
};

// Inserts the release, its models and deltas. ALREADY_EXISTS if a model already has a release
// of that version (or the release id is taken).
absl::Status InsertRelease(WriteTx& tx, const ReleaseRecord& record,
                           const std::vector<DeltaRecord>& deltas, const std::string& by);
// The release with id `release_id` exactly, or whose id starts with a prefix of >= 8 digits
// (`allow_prefix`). nullopt if none; INVALID_ARGUMENT for an ambiguous prefix.
absl::StatusOr<std::optional<v1::FirmwareRelease>> FindRelease(common::Database& db,
                                                               const std::string& release_id,
                                                               bool allow_prefix = false);
// The release id a model has at a version, if any.
absl::StatusOr<std::optional<std::string>> FindReleaseIdFor(common::Database& db,
                                                            const std::string& model,
                                                            const ReleaseVersion& v);
// The newest release of `model` (withdrawn ones included when asked), as (release, version).
absl::StatusOr<std::optional<v1::FirmwareRelease>> NewestReleaseOf(common::Database& db,
                                                                   const std::string& model,
                                                                   bool include_withdrawn);
// The newest release of `model` older than `v` that is not withdrawn: the base of a delta.
absl::StatusOr<std::optional<v1::FirmwareRelease>> PreviousReleaseOf(common::Database& db,
                                                                     const std::string& model,
                                                                     const ReleaseVersion& v);
// Where a page of releases ends: the sort key of its last release (version, then row id).
struct ReleaseCursor {
  ReleaseVersion version;
  int64_t id = 0;
};
struct ReleasePage {
  std::vector<v1::FirmwareRelease> releases;
  // The key of each release, in step with `releases`.
  std::vector<ReleaseCursor> keys;
};
// Releases, newest version first (then newest upload); with `model`, that model's only; only
// those after `after` in that order, at most `limit`.
absl::StatusOr<ReleasePage> ListReleases(common::Database& db, const std::string& model,
                                         bool include_withdrawn,
                                         const std::optional<ReleaseCursor>& after, int limit);
absl::Status WithdrawRelease(WriteTx& tx, const std::string& release_id, const std::string& by,
                             const std::string& reason);
// The compressed image's digest of a release.
absl::StatusOr<std::string> CompressedDigestOf(common::Database& db, const std::string& release_id);
// The digest of the delta that turns the image `from_image_sha256` into release `release_id`'s.
absl::StatusOr<std::optional<std::string>> DeltaDigestFrom(common::Database& db,
                                                           const std::string& release_id,
                                                           const std::string& from_image_sha256);
// The image store's collection (FirmwareManager::CollectGarbage), the database's half: a
// release is collectable when it is withdrawn and no unfinished rollout (state other than
// COMPLETED or ABORTED) names it. Deletes the delta rows that go: every delta to a collectable
// release, and every delta from one unless an unfinished rollout names its target (a dock may
// be resuming it). Returns what went and the digest of every object a row still names.
struct FirmwareGarbage {
  // Collectable releases (full ids), oldest first, and the objects they name.
  std::vector<std::string> collectable_release_ids;
  std::set<std::string> collectable_digests;
  // Dropped deltas as (from release id, to release id).
  std::vector<std::pair<std::string, std::string>> dropped_deltas;
  std::set<std::string> dropped_digests;
  // Image, compressed image and delta digests of what stays.
  std::set<std::string> live_digests;
};
absl::StatusOr<FirmwareGarbage> DropFirmwareGarbage(WriteTx& tx);

// Whether any registered camera is of `model`.
absl::StatusOr<bool> ModelKnown(common::Database& db, const std::string& model);

}  // namespace camfleet::storage
