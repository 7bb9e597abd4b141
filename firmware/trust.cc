#include "firmware/trust.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "provisioning/digest.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::firmware {

absl::Status Trust::Add(absl::string_view public_key_pem, bool retired) {
  absl::StatusOr<std::string> id = provisioning::FirmwarePublicKeyId(public_key_pem);
  if (!id.ok()) return id.status();
  keys_[*id] = TrustedKey{*id, std::string(public_key_pem), retired};
  return absl::OkStatus();
}

absl::Status Trust::Retire(absl::string_view key_id) {
  auto it = keys_.find(std::string(key_id));
  if (it == keys_.end()) {
    return absl::NotFoundError(absl::StrCat("signing key ", key_id, " is not known"));
  }
  it->second.retired = true;
  return absl::OkStatus();
}

absl::StatusOr<Manifest> Trust::Verify(absl::string_view manifest_bytes,
                                       absl::string_view signature) const {
  absl::StatusOr<Manifest> manifest = ParseManifest(manifest_bytes);
  if (!manifest.ok()) return manifest.status();
  auto it = keys_.find(manifest->signing_key_id);
  if (it == keys_.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("release ", FormatVersion(manifest->version), " is signed by key ",
                     manifest->signing_key_id.substr(0, 16), "..., which is not trusted here"));
  }
  if (it->second.retired) {
    return absl::PermissionDeniedError(
        absl::StrCat("release ", FormatVersion(manifest->version), " is signed by key ",
                     manifest->signing_key_id.substr(0, 16),
                     "..., which was retired; sign it with a current key"));
  }
  if (absl::Status s = provisioning::VerifyFirmwareSignature(it->second.public_key_pem,
                                                             manifest_bytes, signature);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("release ", FormatVersion(manifest->version),
                                               ": bad signature: ", s.message()));
  }
  return manifest;
}

absl::Status CheckImageDigest(const Manifest& manifest, uint64_t size,
                              absl::string_view sha256_hex) {
  if (size != manifest.image_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the image is ", size, " bytes; the signed manifest says ", manifest.image_size));
  }
  if (sha256_hex != manifest.image_sha256) {
    return absl::InvalidArgumentError(
        absl::StrCat("the image's SHA-256 is ", sha256_hex, "; the signed manifest says ",
                     manifest.image_sha256, " (tampered or corrupted)"));
  }
  return absl::OkStatus();
}

absl::Status CheckImage(const Manifest& manifest, absl::string_view image) {
  return CheckImageDigest(manifest, image.size(), provisioning::ToHex(provisioning::Sha256(image)));
}

absl::Status CheckInstallable(const Manifest& manifest, absl::string_view model,
                              absl::string_view running_version) {
  if (!ManifestCovers(manifest, model)) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", FormatVersion(manifest.version), " is for ",
                     absl::StrJoin(manifest.models, ", "), "; this camera is a ", model));
  }
  Version running;
  if (absl::StatusOr<Version> v = ParseVersion("running version", running_version); v.ok()) {
    running = *v;
  }
  if (manifest.version <= running && !manifest.allow_downgrade) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", FormatVersion(manifest.version), " is not newer than the running ",
                     running_version, ", and is not signed as an allowed downgrade"));
  }
  return absl::OkStatus();
}

}  // namespace camfleet::firmware
