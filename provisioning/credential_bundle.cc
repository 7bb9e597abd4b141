#include "provisioning/credential_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "provisioning/file_io.h"

namespace camfleet::provisioning {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;

absl::Status EnsureDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || (errno == EEXIST && IsDirectory(dir))) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", dir));
}

// Writes `contents` to `path` through a new temporary file and rename(2), so a reader sees the
// old file or the new one, never a mix.
absl::Status ReplaceFile(const std::string& path, absl::string_view contents, mode_t mode) {
  const std::string tmp = path + ".new";
  unlink(tmp.c_str());
  if (absl::Status s = WriteNewFile(tmp, contents, mode); !s.ok()) return s;
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot replace ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCredentialBundle(const std::string& dir, const PrivateKey& key,
                                   absl::string_view cert_pem, absl::string_view ca_pem) {
  if (absl::Status s = EnsureDir(dir); !s.ok()) return s;
  for (const char* name : {kBundleKeyFile, kBundleCertFile, kBundleCaFile}) {
    if (PathExists(JoinPath(dir, name))) {
      return absl::AlreadyExistsError(
          absl::StrCat(JoinPath(dir, name), " exists; choose an empty directory"));
    }
  }
  if (absl::Status s = key.WriteFile(JoinPath(dir, kBundleKeyFile)); !s.ok()) return s;
  if (absl::Status s = WriteNewFile(JoinPath(dir, kBundleCertFile), cert_pem, 0644); !s.ok()) {
    return s;
  }
  return WriteNewFile(JoinPath(dir, kBundleCaFile), ca_pem, 0644);
}

absl::Status ReplaceCredentialBundle(const std::string& dir, const PrivateKey& key,
                                     absl::string_view cert_pem, absl::string_view ca_pem) {
  absl::StatusOr<std::string> key_pem = key.ToPem();
  if (!key_pem.ok()) return key_pem.status();
  // The key goes first: a crash between the two leaves a new key with the old certificate,
  // which fails loudly at the next handshake rather than silently using a stale pair.
  if (absl::Status s = ReplaceFile(JoinPath(dir, kBundleKeyFile), *key_pem, kPrivateKeyFileMode);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReplaceFile(JoinPath(dir, kBundleCertFile), cert_pem, 0644); !s.ok()) {
    return s;
  }
  return ReplaceFile(JoinPath(dir, kBundleCaFile), ca_pem, 0644);
}

absl::StatusOr<CredentialBundle> LoadCredentialBundle(const std::string& dir) {
  CredentialBundle bundle;
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(JoinPath(dir, kBundleKeyFile));
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> key_pem = key->ToPem();
  if (!key_pem.ok()) return key_pem.status();
  bundle.key_pem = *std::move(key_pem);
  absl::StatusOr<FileContents> cert = ReadSmallFile(JoinPath(dir, kBundleCertFile), kMaxPemBytes);
  if (!cert.ok()) return cert.status();
  bundle.cert_pem = std::move(cert->data);
  absl::StatusOr<FileContents> ca = ReadSmallFile(JoinPath(dir, kBundleCaFile), kMaxPemBytes);
  if (!ca.ok()) return ca.status();
  bundle.ca_pem = std::move(ca->data);
  return bundle;
}

}  // namespace camfleet::provisioning
