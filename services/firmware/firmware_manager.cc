#include "services/firmware/firmware_manager.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "firmware/bundle.h"
#include "firmware/delta.h"
#include "provisioning/digest.h"
#include "provisioning/firmware_signing.h"
#include "services/rollout/rollout_engine.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/firmware_repository.h"
#include "services/storage/rollout_repository.h"

namespace camfleet::firmware_service {
namespace {

storage::ReleaseVersion ToStored(const firmware::Version& v) {
  return {int64_t{v.major}, int64_t{v.minor}, int64_t{v.patch}};
}

// A signature that does not verify is a bad upload, not a caller who failed to authenticate:
// UNAUTHENTICATED would send the admin looking at their certificate.
absl::Status AsUploadError(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    return absl::InvalidArgumentError(s.message());
  }
  return s;
}

absl::Status ValidateIdPrefix(absl::string_view field, absl::string_view id) {
  if (id.size() < 8 || id.size() > 64 || !std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": give the id or at least its first 8 lower-case hex digits"));
  }
  return absl::OkStatus();
}

}  // namespace

FirmwareManager::FirmwareManager(storage::Store& store, std::unique_ptr<ImageStore> images,
                                 const rpc::PageTokens& tokens, FirmwareOptions options)
    : store_(store),
      images_(std::move(images)),
      tokens_(tokens),
      options_(options),
      pool_(1, "firmware") {}

FirmwareManager::~FirmwareManager() { StopGc(); }

absl::StatusOr<firmware::Trust> FirmwareManager::LoadTrust() {
  std::vector<v1::SigningKey> keys;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(keys, storage::ListSigningKeys(db));
    return absl::OkStatus();
  }));
  firmware::Trust trust;
  for (const v1::SigningKey& k : keys) {
    RETURN_IF_ERROR(trust.Add(k.public_key_pem(), k.has_retire_time()));
  }
  return trust;
}

absl::StatusOr<std::unique_ptr<FirmwareManager::UploadSession>> FirmwareManager::BeginUpload(
    const rpc::Identity& who, const v1::ReleaseHeader& header) {
  if (header.manifest().empty()) {
    return absl::InvalidArgumentError("header.manifest: give the manifest camfleet-sign wrote");
  }
  if (header.signature().size() != provisioning::kFirmwareSignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.signature: ", header.signature().size(),
        " bytes; give the raw 64-byte Ed25519 signature (the signature file's base64, decoded)"));
  }
  ASSIGN_OR_RETURN(firmware::Trust trust, LoadTrust());
  absl::StatusOr<firmware::Manifest> manifest = trust.Verify(header.manifest(), header.signature());
  if (!manifest.ok()) return AsUploadError(manifest.status());

  auto session = std::make_unique<UploadSession>();
  session->who = who;
  session->release_id = provisioning::ToHex(provisioning::Sha256(header.manifest()));
  session->manifest_bytes = header.manifest();
  session->signature = header.signature();
  session->manifest = *manifest;
  const firmware::Manifest& m = session->manifest;
  const std::string version = firmware::FormatVersion(m.version);
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> existing,
                     storage::FindRelease(db, session->release_id));
    if (existing.has_value()) {
      v1::UploadReleaseResponse resp;
      *resp.mutable_release() = *std::move(existing);
      resp.set_already_stored(true);
      session->finished_ = std::move(resp);
      return absl::OkStatus();
    }
    for (const std::string& model : m.models) {
      ASSIGN_OR_RETURN(bool known, storage::ModelKnown(db, model));
      if (!known) {
        return absl::FailedPreconditionError(absl::StrCat(
            "release ", version, " is for model ", model,
            ", which no camera in the fleet has; check the image is for this fleet, or register "
            "the cameras first"));
      }
      ASSIGN_OR_RETURN(std::optional<std::string> same,
                       storage::FindReleaseIdFor(db, model, ToStored(m.version)));
      if (same.has_value()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "model ", model, " already has a release ", version, " (", same->substr(0, 12),
            ") with other contents; give the new build a new version"));
      }
      ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> newest,
                       storage::NewestReleaseOf(db, model, /*include_withdrawn=*/true));
      if (newest.has_value() && !m.allow_downgrade) {
        ASSIGN_OR_RETURN(firmware::Version newest_version,
                         firmware::ParseVersion("stored version", newest->version()));
        if (newest_version > m.version) {
          return absl::FailedPreconditionError(absl::StrCat(
              "release ", version, " for ", model, " is older than release ", newest->version(),
              " already held, and is not signed as an allowed downgrade (camfleet-sign "
              "--allow-downgrade)"));
        }
      }
    }
    return absl::OkStatus();
  }));
  if (!session->finished()) {
    ASSIGN_OR_RETURN(session->upload, images_->BeginUpload());
  }
  return session;
}

absl::Status FirmwareManager::AddChunk(UploadSession& session, absl::string_view chunk) {
  if (chunk.empty() || chunk.size() > kMaxChunkBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk: ", chunk.size(), " bytes; send 1 byte to 1 MiB per message"));
  }
  if (session.upload->size() + chunk.size() > session.manifest.image_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the image goes past the signed size of ", session.manifest.image_size,
        " bytes; the upload was cut off and nothing was kept (tampered or wrong image?)"));
  }
  return session.upload->Append(chunk);
}

void FirmwareManager::FinishUpload(std::unique_ptr<UploadSession> session,
                                   Done<v1::UploadReleaseResponse> done) {
  if (session->finished()) {
    // Held already: nothing to verify or store.
    done(*std::move(session->finished_));
    return;
  }
  pool_.Schedule([this, session = std::move(session), done = std::move(done)]() mutable {
    Finish(std::move(session), std::move(done));
  });
}

void FirmwareManager::Finish(std::unique_ptr<UploadSession> session,
                             Done<v1::UploadReleaseResponse> done) {
  const firmware::Manifest& m = session->manifest;
  // On a refusal the temporary file goes before the caller hears of it.
  auto fail = [&session, &done](absl::Status s) {
    session.reset();
    done(std::move(s));
  };
  const std::string digest = session->upload->Digest();
  if (absl::Status s = firmware::CheckImageDigest(m, session->upload->size(), digest); !s.ok()) {
    fail(absl::InvalidArgumentError(
        absl::StrCat(s.message(), "; the upload was refused and nothing was kept")));
    return;
  }
  if (absl::Status s = session->upload->Commit(digest); !s.ok()) {
    fail(s);
    return;
  }
  absl::StatusOr<std::string> image = images_->Read(digest, m.image_size);
  if (!image.ok()) {
    fail(image.status());
    return;
  }
  absl::StatusOr<std::string> compressed = firmware::Compress(*image);
  if (!compressed.ok()) {
    fail(compressed.status());
    return;
  }
  absl::StatusOr<std::string> compressed_sha = images_->Put(*compressed);
  if (!compressed_sha.ok()) {
    fail(compressed_sha.status());
    return;
  }
  // A delta from the newest older release of each model, once per distinct base.
  std::vector<storage::DeltaRecord> deltas;
  std::set<std::string> bases;
  for (const std::string& model : m.models) {
    std::optional<v1::FirmwareRelease> previous;
    absl::Status read = store_.Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(previous, storage::PreviousReleaseOf(db, model, ToStored(m.version)));
      return absl::OkStatus();
    });
    if (!read.ok()) {
      fail(read);
      return;
    }
    if (!previous.has_value() || !bases.insert(previous->release_id()).second ||
        previous->image_sha256() == digest) {
      continue;
    }
    absl::StatusOr<std::string> old_image =
        images_->Read(previous->image_sha256(), previous->image_size_bytes());
    if (!old_image.ok()) continue;  // a base whose image is gone gets no delta
    absl::StatusOr<std::string> delta = firmware::MakeDelta(*old_image, *image);
    if (!delta.ok()) {
      fail(delta.status());
      return;
    }
    absl::StatusOr<std::string> delta_sha = images_->Put(*delta);
    if (!delta_sha.ok()) {
      fail(delta_sha.status());
      return;
    }
    deltas.push_back({previous->release_id(), *delta_sha, static_cast<int64_t>(delta->size())});
  }

  storage::ReleaseRecord record;
  v1::FirmwareRelease& r = record.release;
  r.set_release_id(session->release_id);
  for (const std::string& model : m.models) r.add_models(model);
  r.set_version(firmware::FormatVersion(m.version));
  r.set_image_size_bytes(m.image_size);
  r.set_image_sha256(m.image_sha256);
  r.set_min_battery_percent(m.min_battery_percent);
  r.set_allow_downgrade(m.allow_downgrade);
  r.set_release_notes(m.release_notes);
  r.mutable_sign_time()->set_seconds(absl::ToUnixSeconds(m.signed_at));
  r.set_signing_key_id(m.signing_key_id);
  r.set_manifest(session->manifest_bytes);
  r.set_signature(session->signature);
  r.set_compressed_size_bytes(compressed->size());
  record.version = ToStored(m.version);
  record.compressed_sha256 = *compressed_sha;
  const std::string actor = session->who.actor();
  storage::WriteWithResponse<v1::UploadReleaseResponse>(
      store_,
      [record = std::move(record), deltas = std::move(deltas), actor](
          storage::WriteTx& tx, v1::UploadReleaseResponse& resp) -> absl::Status {
        const v1::FirmwareRelease& rel = record.release;
        // A concurrent upload of the same release may have won: that is the same release.
        ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> existing,
                         storage::FindRelease(tx.db(), rel.release_id()));
        if (existing.has_value()) {
          *resp.mutable_release() = *std::move(existing);
          resp.set_already_stored(true);
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(storage::InsertRelease(tx, record, deltas, actor));
        RETURN_IF_ERROR(
            storage::Audit(tx, actor, "firmware.upload", "firmware_release", rel.release_id(),
                           {{"models", absl::StrJoin(rel.models(), ",")},
                            {"version", rel.version()},
                            {"image_sha256", rel.image_sha256()},
                            {"image_size", absl::StrCat(rel.image_size_bytes())},
                            {"signing_key", rel.signing_key_id()},
                            {"allow_downgrade", rel.allow_downgrade() ? "true" : "false"},
                            {"deltas", absl::StrCat(deltas.size())}}));
        ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> stored,
                         storage::FindRelease(tx.db(), rel.release_id()));
        if (!stored.has_value()) return absl::InternalError("the release vanished after insert");
        *resp.mutable_release() = *std::move(stored);
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListReleasesResponse> FirmwareManager::ListReleases(
    const v1::ListReleasesRequest& req) {
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  if (req.model().size() > 64) {
    return absl::InvalidArgumentError("model: at most 64 characters; leave it empty for all");
  }
  // The cursor is the last release's sort key: version, then row id (newest upload first).
  const std::string query =
      absl::StrCat("releases|", req.model(), "|", req.include_withdrawn() ? "all" : "available");
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  std::optional<storage::ReleaseCursor> after;
  if (!cursor.empty()) {
    std::vector<absl::string_view> parts = absl::StrSplit(cursor, '.');
    storage::ReleaseCursor c;
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &c.version.major) ||
        !absl::SimpleAtoi(parts[1], &c.version.minor) ||
        !absl::SimpleAtoi(parts[2], &c.version.patch) || !absl::SimpleAtoi(parts[3], &c.id)) {
      return absl::InvalidArgumentError(
          "page_token: not a token of this list; repeat the first request without it");
    }
    after = c;
  }
  v1::ListReleasesResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        storage::ReleasePage page,
        storage::ListReleases(db, req.model(), req.include_withdrawn(), after, limit + 1));
    if (static_cast<int>(page.releases.size()) > limit) {
      page.releases.pop_back();
      const storage::ReleaseCursor& last = page.keys[static_cast<size_t>(limit) - 1];
      resp.set_next_page_token(tokens_.Encode(
          query, absl::StrCat(last.version.major, ".", last.version.minor, ".",
                              last.version.patch, ".", last.id)));
    }
    for (v1::FirmwareRelease& r : page.releases) *resp.add_releases() = std::move(r);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<GcReport> FirmwareManager::CollectGarbage() {
  // On the manager's one thread: after every upload queued before, whose release row is then
  // queued on the store's writer ahead of this collection's transaction.
  absl::Notification finished;
  absl::StatusOr<GcReport> result;
  pool_.Schedule([&] {
    result = Collect();
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

absl::StatusOr<GcReport> FirmwareManager::Collect() {
  GcReport report;
  std::vector<ImageStore::Object> doomed;
  RETURN_IF_ERROR(store_.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    report = GcReport();
    doomed.clear();
    ASSIGN_OR_RETURN(storage::FirmwareGarbage garbage, storage::DropFirmwareGarbage(tx));
    ASSIGN_OR_RETURN(std::vector<ImageStore::Object> objects, images_->List());
    std::set<std::string> removed;
    for (ImageStore::Object& o : objects) {
      if (garbage.live_digests.contains(o.digest)) continue;
      removed.insert(o.digest);
      report.bytes_freed += o.size;
      doomed.push_back(std::move(o));
    }
    report.objects_removed = static_cast<int>(doomed.size());
    report.dropped_deltas = garbage.dropped_deltas;
    for (const std::string& id : garbage.collectable_release_ids) {
      std::optional<v1::FirmwareRelease> r;
      ASSIGN_OR_RETURN(r, storage::FindRelease(tx.db(), id));
      if (r.has_value() && removed.contains(r->image_sha256())) report.release_ids.push_back(id);
    }
    if (doomed.empty() && report.dropped_deltas.empty()) return absl::OkStatus();
    std::vector<std::string> short_releases;
    for (const std::string& id : report.release_ids) short_releases.push_back(id.substr(0, 12));
    std::vector<std::string> short_deltas;
    for (const auto& [from, to] : report.dropped_deltas) {
      short_deltas.push_back(absl::StrCat(from.substr(0, 12), ">", to.substr(0, 12)));
    }
    return storage::Audit(tx, rollout::kSystemActor, "firmware.gc", "firmware_store",
                          "objects",
                          {{"releases", absl::StrJoin(short_releases, ",")},
                           {"deltas", absl::StrJoin(short_deltas, ",")},
                           {"objects_removed", absl::StrCat(report.objects_removed)},
                           {"bytes_freed", absl::StrCat(report.bytes_freed)}});
  }));
  // Only once no row names them: a crash here leaves files the next run removes.
  for (const ImageStore::Object& o : doomed) RETURN_IF_ERROR(images_->Remove(o.digest));
  return report;
}

void FirmwareManager::StartGc() {
  if (options_.gc_interval <= absl::ZeroDuration() || gc_thread_.joinable()) return;
  gc_thread_ = std::thread([this] {
    absl::Duration wait = std::min(options_.gc_interval, absl::Minutes(10));
    while (true) {
      {
        absl::MutexLock lock(&gc_mu_);
        gc_mu_.AwaitWithTimeout(absl::Condition(&gc_stop_), wait);
        if (gc_stop_) return;
      }
      wait = options_.gc_interval;
      absl::StatusOr<GcReport> r = CollectGarbage();
      if (!r.ok()) {
        common::LogError("collecting the firmware image store: ", r.status().message());
      } else if (r->objects_removed > 0) {
        common::LogInfo("firmware image store: removed ", r->objects_removed, " objects (",
                        r->bytes_freed, " bytes) of ", r->release_ids.size(),
                        " withdrawn releases and ", r->dropped_deltas.size(), " deltas");
      }
    }
  });
}

void FirmwareManager::StopGc() {
  {
    absl::MutexLock lock(&gc_mu_);
    gc_stop_ = true;
  }
  if (gc_thread_.joinable()) gc_thread_.join();
}

void FirmwareManager::WithdrawRelease(const rpc::Identity& who,
                                      const v1::WithdrawReleaseRequest& req,
                                      Done<v1::WithdrawReleaseResponse> done) {
  if (absl::Status s = ValidateIdPrefix("release_id", req.release_id()); !s.ok()) {
    done(s);
    return;
  }
  if (absl::Status s = rpc::ValidateText("reason", req.reason(), 1, 500); !s.ok()) {
    done(s);
    return;
  }
  storage::WriteWithResponse<v1::WithdrawReleaseResponse>(
      store_,
      [req, actor = who.actor()](storage::WriteTx& tx,
                                 v1::WithdrawReleaseResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release,
                         storage::FindRelease(tx.db(), req.release_id(), /*allow_prefix=*/true));
        if (!release.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("no release ", req.release_id(), "; see camfleet firmware list"));
        }
        if (release->has_withdraw_time()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "release ", release->version(), " (", release->release_id().substr(0, 12),
              ") was withdrawn already by ", release->withdrawn_by()));
        }
        RETURN_IF_ERROR(storage::WithdrawRelease(tx, release->release_id(), actor, req.reason()));
        // Its rollouts stop in the same transaction: their jobs leave every plan, and the
        // plans list the release as withdrawn.
        ASSIGN_OR_RETURN(std::optional<int64_t> row,
                         storage::ReleaseRowId(tx.db(), release->release_id()));
        if (row.has_value()) {
          RETURN_IF_ERROR(rollout::StopRolloutsOfRelease(tx, *row, actor, req.reason()));
        }
        RETURN_IF_ERROR(storage::Audit(tx, actor, "firmware.withdraw", "firmware_release",
                                       release->release_id(),
                                       {{"models", absl::StrJoin(release->models(), ",")},
                                        {"version", release->version()},
                                        {"reason", req.reason()}}));
        ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> updated,
                         storage::FindRelease(tx.db(), release->release_id()));
        *resp.mutable_release() = *std::move(updated);
        return absl::OkStatus();
      },
      std::move(done));
}

void FirmwareManager::AddSigningKey(const rpc::Identity& who, const v1::AddSigningKeyRequest& req,
                                    Done<v1::AddSigningKeyResponse> done) {
  if (absl::Status s = rpc::ValidateOperatorName("name", req.name()); !s.ok()) {
    done(s);
    return;
  }
  absl::StatusOr<std::string> key_id = provisioning::FirmwarePublicKeyId(req.public_key_pem());
  if (!key_id.ok()) {
    done(absl::InvalidArgumentError(
        absl::StrCat("public_key_pem: ", key_id.status().message(),
                     "; give the .pub file camfleet-sign keygen wrote")));
    return;
  }
  if (req.public_key_pem().find("PRIVATE KEY") != std::string::npos) {
    done(absl::InvalidArgumentError(
        "public_key_pem: holds a private key; give only the .pub file, and keep the signing key "
        "off the server"));
    return;
  }
  storage::WriteWithResponse<v1::AddSigningKeyResponse>(
      store_,
      [req, key_id = *key_id, actor = who.actor()](
          storage::WriteTx& tx, v1::AddSigningKeyResponse& resp) -> absl::Status {
        RETURN_IF_ERROR(
            storage::InsertSigningKey(tx, key_id, req.name(), req.public_key_pem(), actor));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "firmware.add_signing_key", "signing_key", key_id,
                                       {{"name", req.name()}}));
        ASSIGN_OR_RETURN(*resp.mutable_signing_key(), storage::FindSigningKey(tx.db(), key_id));
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::ListSigningKeysResponse> FirmwareManager::ListSigningKeys(
    const v1::ListSigningKeysRequest&) {
  v1::ListSigningKeysResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::SigningKey> keys, storage::ListSigningKeys(db));
    for (v1::SigningKey& k : keys) *resp.add_signing_keys() = std::move(k);
    return absl::OkStatus();
  }));
  return resp;
}

void FirmwareManager::RetireSigningKey(const rpc::Identity& who,
                                       const v1::RetireSigningKeyRequest& req,
                                       Done<v1::RetireSigningKeyResponse> done) {
  if (absl::Status s = ValidateIdPrefix("key_id", req.key_id()); !s.ok()) {
    done(s);
    return;
  }
  if (absl::Status s = rpc::ValidateText("reason", req.reason(), 1, 500); !s.ok()) {
    done(s);
    return;
  }
  storage::WriteWithResponse<v1::RetireSigningKeyResponse>(
      store_,
      [req, actor = who.actor()](storage::WriteTx& tx,
                                 v1::RetireSigningKeyResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(v1::SigningKey key, storage::FindSigningKey(tx.db(), req.key_id()));
        RETURN_IF_ERROR(storage::RetireSigningKey(tx, key.key_id(), actor, req.reason()));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "firmware.retire_signing_key", "signing_key",
                                       key.key_id(),
                                       {{"name", key.name()}, {"reason", req.reason()}}));
        ASSIGN_OR_RETURN(*resp.mutable_signing_key(),
                         storage::FindSigningKey(tx.db(), key.key_id()));
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<FirmwareManager::Offer> FirmwareManager::ChooseDelivery(
    const std::string& release_id, const std::string& cached_image_sha256) {
  std::optional<v1::FirmwareRelease> release;
  std::string compressed_sha;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(release, storage::FindRelease(db, release_id));
    if (!release.has_value()) return absl::NotFoundError(absl::StrCat("no release ", release_id));
    ASSIGN_OR_RETURN(compressed_sha, storage::CompressedDigestOf(db, release_id));
    return absl::OkStatus();
  }));
  Offer offer{false, compressed_sha, release->compressed_size_bytes()};
  if (cached_image_sha256.empty()) return offer;
  std::optional<std::string> delta_sha;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(delta_sha, storage::DeltaDigestFrom(db, release_id, cached_image_sha256));
    return absl::OkStatus();
  }));
  for (const v1::FirmwareDelta& d : release->deltas()) {
    if (delta_sha.has_value() && d.from_image_sha256() == cached_image_sha256 &&
        d.size_bytes() < offer.size_bytes) {
      offer = Offer{true, *delta_sha, d.size_bytes()};
    }
  }
  return offer;
}

namespace {

bool IsFullId(absl::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A dock names at most this many cached releases: it keeps a handful, and the server looks each
// up.
constexpr int kMaxCachedReleaseIds = 32;

}  // namespace

absl::StatusOr<FirmwareManager::DownloadSource> FirmwareManager::PrepareDownload(
    const v1::DownloadReleaseRequest& req) {
  if (!IsFullId(req.release_id())) {
    return absl::InvalidArgumentError(
        "release_id: give the release's full id (64 lower-case hex digits)");
  }
  if (req.cached_release_ids_size() > kMaxCachedReleaseIds) {
    return absl::InvalidArgumentError(absl::StrCat("cached_release_ids: at most ",
                                                   kMaxCachedReleaseIds, " releases; send the ",
                                                   "newest ones the dock holds"));
  }
  for (const std::string& id : req.cached_release_ids()) {
    if (!IsFullId(id)) {
      return absl::InvalidArgumentError(
          "cached_release_ids: each must be a full release id (64 lower-case hex digits)");
    }
  }
  const bool resume = req.encoding() != v1::FIRMWARE_PAYLOAD_ENCODING_UNSPECIFIED;
  if (resume && req.encoding() != v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL &&
      req.encoding() != v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA) {
    return absl::InvalidArgumentError("encoding: ZSTD_FULL, ZSTD_DELTA or unset");
  }
  if (resume && req.encoding() == v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA &&
      !IsFullId(req.delta_from_release_id())) {
    return absl::InvalidArgumentError(
        "delta_from_release_id: a delta resume names its base release (the header's)");
  }
  if (!resume && req.offset() != 0) {
    return absl::InvalidArgumentError(
        "offset: a resume also names the encoding the download had; without it start at 0");
  }

  DownloadSource source;
  v1::DownloadHeader& header = source.header;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release,
                     storage::FindRelease(db, req.release_id()));
    if (!release.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("no release ", req.release_id(), "; it was never uploaded here"));
    }
    if (release->has_withdraw_time()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "release ", release->version(), " (", req.release_id().substr(0, 12),
          ") was withdrawn: ", release->withdraw_reason(), "; do not install it"));
    }
    ASSIGN_OR_RETURN(std::string compressed, storage::CompressedDigestOf(db, req.release_id()));
    header.set_encoding(v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL);
    header.set_payload_sha256(compressed);
    header.set_payload_size(release->compressed_size_bytes());

    auto delta_from = [&](const std::string& base_id,
                          uint64_t* size) -> absl::StatusOr<std::optional<std::string>> {
      for (const v1::FirmwareDelta& d : release->deltas()) {
        if (d.from_release_id() != base_id) continue;
        ASSIGN_OR_RETURN(std::optional<std::string> sha,
                         storage::DeltaDigestFrom(db, req.release_id(), d.from_image_sha256()));
        if (sha.has_value()) *size = d.size_bytes();
        return sha;
      }
      return std::optional<std::string>();
    };

    if (resume) {
      if (req.encoding() == v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA) {
        uint64_t size = 0;
        ASSIGN_OR_RETURN(std::optional<std::string> sha, delta_from(req.delta_from_release_id(), &size));
        if (!sha.has_value()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "delta_from_release_id: the server has no delta to ", req.release_id().substr(0, 12),
              " from ", req.delta_from_release_id().substr(0, 12),
              "; start the download again with encoding unset"));
        }
        header.set_encoding(v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA);
        header.set_delta_from_release_id(req.delta_from_release_id());
        header.set_payload_sha256(*sha);
        header.set_payload_size(size);
      }
      return absl::OkStatus();
    }
    // A new download: the smallest of the full image and a delta from any cached release.
    for (const std::string& base : req.cached_release_ids()) {
      if (base == req.release_id()) continue;
      uint64_t size = 0;
      ASSIGN_OR_RETURN(std::optional<std::string> sha, delta_from(base, &size));
      if (sha.has_value() && size < header.payload_size()) {
        header.set_encoding(v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA);
        header.set_delta_from_release_id(base);
        header.set_payload_sha256(*sha);
        header.set_payload_size(size);
      }
    }
    return absl::OkStatus();
  }));
  if (req.offset() > header.payload_size()) {
    return absl::OutOfRangeError(absl::StrCat("offset ", req.offset(), " is past the payload's ",
                                              header.payload_size(),
                                              " bytes; start the download again at 0"));
  }
  header.set_offset(req.offset());
  if (!images_->Has(header.payload_sha256())) {
    return absl::InternalError(absl::StrCat("the firmware store lacks object ",
                                            header.payload_sha256(), " of release ",
                                            req.release_id(), "; upload the release again"));
  }
  source.object_path = images_->PathOf(header.payload_sha256());
  return source;
}

absl::StatusOr<FirmwareManager::ExportSource> FirmwareManager::PrepareExport(
    const v1::ExportReleaseRequest& req) {
  RETURN_IF_ERROR(ValidateIdPrefix("release_id", req.release_id()));
  std::optional<v1::FirmwareRelease> release;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(release, storage::FindRelease(db, req.release_id(), /*allow_prefix=*/true));
    return absl::OkStatus();
  }));
  if (!release.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no release ", req.release_id(), "; see camfleet firmware list"));
  }
  if (!images_->Has(release->image_sha256())) {
    if (release->has_withdraw_time()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "release ", release->version(), " (", release->release_id().substr(0, 12),
          ") was withdrawn and its image has left the store (firmware.gc in the audit log); "
          "export it from a backup of the signed release instead"));
    }
    return absl::InternalError(absl::StrCat("the firmware store lacks the image of release ",
                                            release->release_id(), "; upload it again"));
  }
  ExportSource out;
  out.prefix = firmware::BundlePrefix(release->manifest(), release->signature(),
                                      release->image_size_bytes());
  out.image_path = images_->PathOf(release->image_sha256());
  out.image_size = release->image_size_bytes();
  return out;
}

void FirmwareManager::CountServed(const std::string& dock_id, uint64_t bytes) {
  absl::MutexLock lock(&served_mu_);
  served_[dock_id] += bytes;
}

uint64_t FirmwareManager::BytesServedTo(const std::string& dock_id) const {
  absl::MutexLock lock(&served_mu_);
  auto it = served_.find(dock_id);
  return it == served_.end() ? 0 : it->second;
}

std::map<std::string, uint64_t> FirmwareManager::BytesServed() const {
  absl::MutexLock lock(&served_mu_);
  return served_;
}

}  // namespace camfleet::firmware_service
