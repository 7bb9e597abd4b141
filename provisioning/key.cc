#include "provisioning/key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "provisioning/file_io.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"

namespace camfleet::provisioning {
namespace {

// Far larger than any key we would accept; stops a wrong path from reading a disk image.
constexpr size_t kMaxKeyFileBytes = size_t{64} * 1024;

// A passphrase callback that declines. Without it OpenSSL would prompt on the terminal when it
// meets an encrypted key, which a daemon must never do.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

// Overwrites a string that held key material before its memory is released.
void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

}  // namespace

void PrivateKey::Free::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

PrivateKey::PrivateKey(PrivateKey&&) noexcept = default;
PrivateKey& PrivateKey::operator=(PrivateKey&&) noexcept = default;
PrivateKey::~PrivateKey() = default;

absl::StatusOr<PrivateKey> PrivateKey::GenerateEcP256() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "generating an EC P-256 key");
  }
  return PrivateKey(key);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("private key PEM is too large");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not an unencrypted PEM private key");
  }
  return PrivateKey(key);
}

absl::StatusOr<PrivateKey> PrivateKey::ReadFile(const std::string& path) {
  absl::StatusOr<FileContents> file = ReadSmallFile(path, kMaxKeyFileBytes);
  if (!file.ok()) return file.status();
  if ((file->mode & 077) != 0) {
    Wipe(file->data);
    return absl::FailedPreconditionError(
        absl::StrFormat("key file %s has mode %04o; group and others must have no access "
                        "(chmod 600 it)",
                        path, file->mode));
  }
  absl::StatusOr<PrivateKey> key = FromPem(file->data);
  Wipe(file->data);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<std::string> PrivateKey::ToPem() const {
  // A secure-memory BIO is wiped when freed, so the encoding leaves no copy behind in OpenSSL.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a private key");
  }
  return MemoryBioContents(bio.get());
}

absl::Status PrivateKey::WriteFile(const std::string& path) const {
  absl::StatusOr<std::string> pem = ToPem();
  if (!pem.ok()) return pem.status();
  absl::Status written = WriteNewFile(path, *pem, kPrivateKeyFileMode);
  Wipe(*pem);
  return written;
}

absl::StatusOr<std::string> PrivateKey::PublicKeyFingerprint() const {
  return provisioning::PublicKeyFingerprint(key_.get());
}

std::string PrivateKey::Description() const { return DescribeKey(key_.get()); }

}  // namespace camfleet::provisioning
