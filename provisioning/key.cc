#include "provisioning/key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstddef>
#include <functional>

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

// Hands OpenSSL the passphrase in `u` (an absl::string_view*), never prompting.
int GivenPassphrase(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* passphrase = static_cast<const absl::string_view*>(u);
  if (passphrase == nullptr || passphrase->size() > static_cast<size_t>(size)) return -1;
  std::copy(passphrase->begin(), passphrase->end(), buf);
  return static_cast<int>(passphrase->size());
}

constexpr size_t kMinPassphraseLength = 12;
// scrypt cost as `openssl pkcs8 -scrypt` sets it: 2^14 * 128 * 8 bytes = 16 MiB, under the
// 32 MiB OpenSSL allows when it decrypts (a larger N would not load again).
constexpr uint64_t kScryptN = uint64_t{1} << 14;
constexpr uint64_t kScryptR = 8;
constexpr uint64_t kScryptP = 1;
constexpr int kSaltBytes = 16;

using Pkcs8InfoPtr = std::unique_ptr<PKCS8_PRIV_KEY_INFO, OpenSslFree<PKCS8_PRIV_KEY_INFO_free>>;
using X509SigPtr = std::unique_ptr<X509_SIG, OpenSslFree<X509_SIG_free>>;
using X509AlgorPtr = std::unique_ptr<X509_ALGOR, OpenSslFree<X509_ALGOR_free>>;

// Overwrites a string that held key material before its memory is released.
void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

// A key file owner-only (FAILED_PRECONDITION otherwise), parsed by `parse`; the file's bytes are
// wiped whatever the outcome, and a parse error names the file.
absl::StatusOr<PrivateKey> ReadKeyFile(
    const std::string& path,
    const std::function<absl::StatusOr<PrivateKey>(absl::string_view)>& parse) {
  absl::StatusOr<FileContents> file = ReadSmallFile(path, kMaxKeyFileBytes);
  if (!file.ok()) return file.status();
  if ((file->mode & 077) != 0) {
    Wipe(file->data);
    return absl::FailedPreconditionError(
        absl::StrFormat("key file %s has mode %04o; group and others must have no access "
                        "(chmod 600 it)",
                        path, file->mode));
  }
  absl::StatusOr<PrivateKey> key = parse(file->data);
  Wipe(file->data);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
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

absl::StatusOr<PrivateKey> PrivateKey::FromPemWithPassphrase(absl::string_view pem,
                                                             absl::string_view passphrase) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("private key PEM is too large");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, GivenPassphrase,
                                          const_cast<absl::string_view*>(&passphrase));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "wrong passphrase or not a PEM private key");
  }
  return PrivateKey(key);
}

absl::StatusOr<PrivateKey> PrivateKey::ReadFileWithPassphrase(const std::string& path,
                                                              absl::string_view passphrase) {
  return ReadKeyFile(path, [passphrase](absl::string_view pem) {
    return FromPemWithPassphrase(pem, passphrase);
  });
}

absl::StatusOr<std::string> PrivateKey::ToEncryptedPem(absl::string_view passphrase) const {
  if (passphrase.size() < kMinPassphraseLength) {
    return absl::InvalidArgumentError(absl::StrCat("the passphrase has ", passphrase.size(),
                                                   " characters; use at least ",
                                                   kMinPassphraseLength));
  }
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, kSaltBytes) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "drawing a salt");
  }
  X509AlgorPtr pbe(PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), salt, kSaltBytes, nullptr, kScryptN,
                                         kScryptR, kScryptP));
  Pkcs8InfoPtr info(EVP_PKEY2PKCS8(key_.get()));
  if (pbe == nullptr || info == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "preparing an encrypted private key");
  }
  X509SigPtr encrypted(PKCS8_set0_pbe(passphrase.data(), static_cast<int>(passphrase.size()),
                                      info.get(), pbe.get()));
  if (encrypted == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "encrypting a private key");
  }
  static_cast<void>(pbe.release());  // Now owned by `encrypted`.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr || PEM_write_bio_PKCS8(bio.get(), encrypted.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding an encrypted private key");
  }
  return MemoryBioContents(bio.get());
}

absl::Status PrivateKey::WriteEncryptedFile(const std::string& path,
                                            absl::string_view passphrase) const {
  absl::StatusOr<std::string> pem = ToEncryptedPem(passphrase);
  if (!pem.ok()) return pem.status();
  return WriteNewFile(path, *pem, kPrivateKeyFileMode);
}

absl::StatusOr<PrivateKey> PrivateKey::ReadFile(const std::string& path) {
  return ReadKeyFile(path, [](absl::string_view pem) { return FromPem(pem); });
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
