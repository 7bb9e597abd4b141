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
//   DIR/firmware/partial/<id>.payload  size and SHA-256; the payload bytes held so far (each
//                                     chunk synced before the next is asked for)
//   DIR/firmware/tmp/                emptied on open
//
// A release enters releases/ only after the checks every party makes (firmware/trust.h): the
// manifest parses strictly, names a key trusted here and not retired, its signature verifies,
// and the image has the signed size and SHA-256. A download and an imported bundle go through
// the same Store.
//
// Thread-safe: every method works on its own files; one downloader writes a release's partial.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/provisioning.pb.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"

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
  uint64_t bytes_held = 0;
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
  // Appends and syncs. INVALID_ARGUMENT past payload_size (nothing is written).
  absl::Status AppendPartial(const std::string& release_id, const std::string& bytes);
  absl::StatusOr<std::string> ReadPartial(const std::string& release_id) const;
  void DropPartial(const std::string& release_id);

  const std::string& root() const { return root_; }

 private:
  explicit FirmwareCache(std::string root) : root_(std::move(root)) {}
  std::string ReleaseDir(const std::string& id) const;
  std::string PartialBase(const std::string& id) const;

  std::string root_;
  firmware::Trust trust_;
};

// Lower-case hex SHA-256 of the manifest bytes: the release id.
std::string ReleaseIdOf(const std::string& manifest_bytes);

}  // namespace camfleet::agent
