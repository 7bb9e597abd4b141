#include "tools/sign/release_signer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "firmware/trust.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::sign {

absl::StatusOr<KeyPairFiles> GenerateKeyPair(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", dir, ": ", std::strerror(errno)));
  }
  KeyPairFiles files{provisioning::JoinPath(dir, kPrivateKeyFile),
                     provisioning::JoinPath(dir, kPublicKeyFile), ""};
  for (const std::string& path : {files.private_key_path, files.public_key_path}) {
    if (provisioning::PathExists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " exists; camfleet-sign never replaces a key"));
    }
  }
  ASSIGN_OR_RETURN(provisioning::FirmwareSigningKey key,
                   provisioning::FirmwareSigningKey::Generate());
  ASSIGN_OR_RETURN(std::string public_pem, key.PublicKeyPem());
  ASSIGN_OR_RETURN(files.key_id, key.KeyId());
  RETURN_IF_ERROR(key.WriteFile(files.private_key_path));
  RETURN_IF_ERROR(provisioning::WriteNewFile(files.public_key_path, public_pem, 0644));
  return files;
}

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const absl::Status s = errno == ENOENT
                               ? absl::NotFoundError(absl::StrCat(path, " does not exist"))
                               : absl::PermissionDeniedError(absl::StrCat(
                                     "cannot read ", path, ": ", std::strerror(errno)));
    return s;
  }
  provisioning::Sha256Stream sha;
  FileDigest digest;
  std::string buffer(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("reading ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    sha.Update(absl::string_view(buffer.data(), static_cast<size_t>(n)));
    digest.size += static_cast<uint64_t>(n);
  }
  ::close(fd);
  digest.sha256 = provisioning::ToHex(sha.Finish());
  return digest;
}

absl::StatusOr<SignedRelease> SignRelease(const ReleaseSpec& spec) {
  ASSIGN_OR_RETURN(provisioning::FirmwareSigningKey key,
                   provisioning::FirmwareSigningKey::ReadFile(spec.key_path));
  ASSIGN_OR_RETURN(FileDigest digest, DigestFile(spec.image_path));
  SignedRelease release;
  firmware::Manifest& m = release.manifest;
  m.models = spec.models;
  ASSIGN_OR_RETURN(m.version, firmware::ParseVersion("version", spec.version));
  m.image_size = digest.size;
  m.image_sha256 = digest.sha256;
  m.min_battery_percent = spec.min_battery_percent;
  m.allow_downgrade = spec.allow_downgrade;
  m.release_notes = spec.release_notes;
  m.signed_at = absl::FromUnixSeconds(
      absl::ToUnixSeconds(spec.signed_at == absl::InfinitePast() ? absl::Now() : spec.signed_at));
  ASSIGN_OR_RETURN(m.signing_key_id, key.KeyId());
  RETURN_IF_ERROR(firmware::NormalizeManifest(m));
  release.manifest_bytes = firmware::EncodeManifest(m);
  ASSIGN_OR_RETURN(release.signature, key.Sign(release.manifest_bytes));
  // Check our own work the way the server will, so a broken signer is caught here.
  firmware::Trust self;
  ASSIGN_OR_RETURN(std::string public_pem, key.PublicKeyPem());
  RETURN_IF_ERROR(self.Add(public_pem));
  RETURN_IF_ERROR(self.Verify(release.manifest_bytes, release.signature).status());
  return release;
}

absl::Status WriteRelease(const SignedRelease& release, const std::string& manifest_path,
                          const std::string& signature_path) {
  for (const std::string& path : {manifest_path, signature_path}) {
    if (provisioning::PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists; remove it or give another"));
    }
  }
  RETURN_IF_ERROR(provisioning::WriteNewFile(manifest_path, release.manifest_bytes, 0644));
  return provisioning::WriteNewFile(signature_path,
                                    firmware::EncodeSignatureFile(release.signature), 0644);
}

}  // namespace camfleet::sign
