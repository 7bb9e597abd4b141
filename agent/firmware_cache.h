#pragma once
// The dock's firmware cache (DIR/firmware/, agent/dock_paths.h): releases the dock has verified,
// the downloads in progress, and the signing keys the dock trusts.
//
//   DIR/firmware/keys/*.pem          Ed25519 public keys the dock trusts (put there when the
//                                     dock is installed, or with `camfleet-dock firmware
//                                     trust-key`); never from the control plane, so a
//                                     compromised server cannot make the dock take its image
//   DIR/firmware/keys/retired        key ids refused from now on, one a line
//   DIR/firmware/releases/<id>/      manifest, signature, image: a verified release, complete
//                                     (written in tmp/ and renamed in whole)
//   DIR/firmware/partial/<id>.meta   a download in progress: encoding, delta base, payload
//                                     size and SHA-256
//   DIR/firmware/partial/<id>.payload  the payload bytes written so far; only the first
//                                     <held> of them are trusted
//   DIR/firmware/partial/<id>.held   <held>: how many payload bytes are durably on disk,
//                                     rewritten only after the payload was synced that far
//                                     (PartialWriter: every few MiB or every second, and when
//                                     a call ends); with a check of its own, so a torn record
//                                     reads as 0 held, never as a wrong length
//   DIR/firmware/tmp/                emptied on open
//
// A release enters releases/ only after the checks every party makes (firmware/trust.h): the
// manifest parses strictly, names a key trusted here and not retired, its signature verifies,
// and the image has the signed size and SHA-256. A download and an imported bundle go through
// the same Store.
//
// Thread-safe: every method works on its own files; one downloader writes a release's partial.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "camfleet/v1/provisioning.pb.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "provisioning/firmware_signing.h"

struct ZSTD_DCtx_s;
struct ZSTD_inBuffer_s;

namespace camfleet::agent {

struct CachedRelease {
  std::string release_id;
  std::string manifest_bytes;
  std::string signature;
  firmware::Manifest manifest;
  std::string image_path;
};

struct PartialDownload {
  v1::FirmwarePayloadEncoding encoding = v1::FIRMWARE_PAYLOAD_ENCODING_UNSPECIFIED;
  std::string delta_from_release_id;
  uint64_t payload_size = 0;
  std::string payload_sha256;
  // Payload bytes durably held (the .held record): where a download resumes.
  uint64_t bytes_held = 0;
};

// How often a download in progress is made durable. A sync costs the same whatever it covers
// (the bytes go to disk at the kernel's pace anyway); syncing every 1 MiB chunk made each
// chunk wait for the disk. After a crash a download goes on from the last sync: at most
// `every_bytes` (or a second's worth) is fetched again.
struct PartialSyncPolicy {
  uint64_t every_bytes = uint64_t{8} << 20;
  absl::Duration every = absl::Seconds(1);
};

// A download in progress, open for appending (FirmwareCache::OpenPartial). It hashes the
// payload as it is written, so the whole payload is never read back to check it. Bytes
// appended become what Partial() reports held only once Sync (by itself per the policy, or
// called) put them on disk. Not thread-safe; one writer per release at a time.
class PartialWriter {
 public:
  ~PartialWriter();
  PartialWriter(const PartialWriter&) = delete;
  PartialWriter& operator=(const PartialWriter&) = delete;

  // The partial as opened: bytes_held is the durable length it resumed from.
  const PartialDownload& header() const { return header_; }
  // Payload bytes written (durable or not), and durably recorded.
  uint64_t written() const { return written_; }
  uint64_t durable() const { return durable_; }
  // Appends; syncs and records per the policy. INVALID_ARGUMENT past payload_size (nothing is
  // written); INTERNAL on I/O errors.
  absl::Status Append(absl::string_view bytes);
  // Syncs what was written and records it as held. INTERNAL on I/O errors (the record keeps
  // the last length synced).
  absl::Status Sync();
  // Lower-case hex SHA-256 of every payload byte written (held before plus appended). Once.
  std::string FinishSha256();

 private:
  friend class FirmwareCache;
  PartialWriter() = default;

  std::string payload_path_;
  std::string record_path_;
  int payload_fd_ = -1;
  int record_fd_ = -1;
  PartialDownload header_;
  PartialSyncPolicy policy_;
  uint64_t written_ = 0;
  uint64_t durable_ = 0;
  absl::Time last_sync_;
  provisioning::Sha256Stream sha_;
};

// A full image being rebuilt from its zstd frame into DIR/firmware/tmp/<id>.image
// (FirmwareCache::BeginImage): fed the frame in pieces as they come, never writing past the
// signed size, hashed as it is written; FirmwareCache::KeepImage checks and keeps it. The same
// bounds as firmware::Decompress (the frame's declared size is not trusted). Not thread-safe.
class ImageWriter {
 public:
  ~ImageWriter();  // removes the file unless it was kept
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  // Decompresses the next piece of the frame into the file. INVALID_ARGUMENT for damaged
  // data, bytes after the frame's end, or output past the signed size; INTERNAL on I/O
  // errors. After an error every later call returns it.
  absl::Status Feed(absl::string_view frame_piece);
  // The first error Feed met (OK if none).
  const absl::Status& status() const { return status_; }

 private:
  friend class FirmwareCache;
  ImageWriter() = default;
  absl::Status Decompress(absl::string_view piece);
  absl::Status Step(ZSTD_inBuffer_s& src);
  // The frame ended and the file is synced; INVALID_ARGUMENT if the frame is truncated.
  absl::Status Finish();

  std::string path_;
  int fd_ = -1;
  bool kept_ = false;
  uint64_t max_size_ = 0;
  uint64_t size_ = 0;
  size_t rc_ = 1;  // zstd's hint: 0 once the frame is complete
  ZSTD_DCtx_s* dctx_ = nullptr;
  std::string out_buf_;
  provisioning::Sha256Stream sha_;
  std::string sha256_hex_;
  absl::Status status_;
};

class FirmwareCache {
 public:
  // Opens (creating, 0700) DIR/firmware and its folders and loads the trusted keys.
  // Errors: INTERNAL naming the path; INVALID_ARGUMENT for a key file that is not an Ed25519
  // public key.
  static absl::StatusOr<std::unique_ptr<FirmwareCache>> Open(const std::string& dir);

  // Trusts `public_key_pem` from now on (keys/<key id>.pem). Returns the key id. A retired key
  // stays retired.
  absl::StatusOr<std::string> TrustKey(const std::string& public_key_pem);
  // Refuses releases signed by `key_id` from now on. NOT_FOUND if the key is not trusted here.
  absl::Status RetireKey(const std::string& key_id);
  const firmware::Trust& trust() const { return trust_; }

  // The manifest's signature checked with the dock's keys (Trust::Verify's errors).
  absl::StatusOr<firmware::Manifest> Verify(const std::string& manifest_bytes,
                                            const std::string& signature) const;
  // Verifies the release and its image and keeps it. Errors: Verify's; INVALID_ARGUMENT for an
  // image of another size or SHA-256; INTERNAL on I/O errors. Keeping a release held is a no-op.
  absl::StatusOr<CachedRelease> Store(const std::string& manifest_bytes,
                                      const std::string& signature, const std::string& image);
  // The same for a release whose partial download holds its full image as one zstd frame:
  // decompressed straight into the release's image file (never more than the signed size;
  // the image is hashed as it is written), then checked as Store checks it, and the partial
  // dropped. Errors: Store's; FAILED_PRECONDITION if no download is held; INVALID_ARGUMENT
  // for a frame that is damaged, truncated, has trailing bytes or expands past the size.
  absl::StatusOr<CachedRelease> StoreFromPartial(const std::string& manifest_bytes,
                                                 const std::string& signature);
  // Starts rebuilding release `release_id`'s full image of at most `image_size` bytes from its
  // zstd frame (a download feeds it chunk by chunk as they arrive). INTERNAL on I/O errors.
  absl::StatusOr<std::unique_ptr<ImageWriter>> BeginImage(const std::string& release_id,
                                                          uint64_t image_size);
  // Keeps the release whose image `image` rebuilt: the frame must have ended; the image is
  // synced, its size and SHA-256 checked against the verified manifest, then moved in as Store
  // does, and the partial dropped. Errors: Store's; INVALID_ARGUMENT for a frame that did not
  // decompress whole (Feed's errors, or truncated) or an image of another release.
  absl::StatusOr<CachedRelease> KeepImage(const std::string& manifest_bytes,
                                          const std::string& signature,
                                          std::unique_ptr<ImageWriter> image);
  bool Has(const std::string& release_id) const;
  // NOT_FOUND if not cached.
  absl::StatusOr<CachedRelease> Get(const std::string& release_id) const;
  absl::StatusOr<std::string> ReadImage(const std::string& release_id) const;
  std::vector<std::string> ReleaseIds() const;
  absl::Status Remove(const std::string& release_id);

  // Downloads in progress.
  std::optional<PartialDownload> Partial(const std::string& release_id) const;
  // Starts a partial afresh (drops what was held).
  absl::Status BeginPartial(const std::string& release_id, const PartialDownload& header);
  // Opens the partial for appending after its durable bytes: anything in the payload file past
  // them (written but never synced and recorded, as a crash leaves it) is cut off, and the
  // bytes held are read once to resume the payload's hash. FAILED_PRECONDITION if no download
  // is in progress; INTERNAL on I/O errors.
  absl::StatusOr<std::unique_ptr<PartialWriter>> OpenPartial(const std::string& release_id,
                                                             const PartialSyncPolicy& policy = {});
  // The payload bytes held (a delta, rebuilt in memory).
  absl::StatusOr<std::string> ReadPartial(const std::string& release_id) const;
  void DropPartial(const std::string& release_id);

  const std::string& root() const { return root_; }

 private:
  explicit FirmwareCache(std::string root) : root_(std::move(root)) {}
  std::string ReleaseDir(const std::string& id) const;
  std::string PartialBase(const std::string& id) const;
  // Writes manifest, signature and (through `write_image`, into the path given) the image in
  // tmp/, then moves them in as releases/<id>/ and drops the partial.
  absl::StatusOr<CachedRelease> Keep(
      const std::string& id, const std::string& manifest_bytes, const std::string& signature,
      const std::function<absl::Status(const std::string& image_path)>& write_image);

  std::string root_;
  firmware::Trust trust_;
};

// Lower-case hex SHA-256 of the manifest bytes: the release id.
std::string ReleaseIdOf(const std::string& manifest_bytes);

}  // namespace camfleet::agent
