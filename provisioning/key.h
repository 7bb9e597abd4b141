#pragma once
// A private key held by whoever it belongs to: the fleet CA, a dock, a camera, an operator's CLI.
// Keys are made where they are used and never travel; only CSRs and certificates do.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY; callers need not include OpenSSL.

namespace camfleet::provisioning {

// Permissions of every private key file we write: owner read/write only.
inline constexpr unsigned kPrivateKeyFileMode = 0600;

class PrivateKey {
 public:
  // A new EC P-256 key from the OpenSSL CSPRNG. INTERNAL if OpenSSL cannot make one.
  static absl::StatusOr<PrivateKey> GenerateEcP256();

  // Parses an unencrypted PEM private key ("PRIVATE KEY", or the older "EC PRIVATE KEY" /
  // "RSA PRIVATE KEY"). Any key type OpenSSL knows is accepted; the fleet's key policy is applied
  // where keys meet the CA (CheckCsr). Never prompts for a passphrase.
  // INVALID_ARGUMENT if `pem` is not such a key (encrypted keys included).
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem);

  // Parses a PEM private key, decrypting an "ENCRYPTED PRIVATE KEY" (PKCS#8) with `passphrase`;
  // an unencrypted key is accepted too (the passphrase is then unused). Never prompts.
  // INVALID_ARGUMENT if `pem` is no key or the passphrase does not decrypt it ("wrong
  // passphrase or not a key").
  static absl::StatusOr<PrivateKey> FromPemWithPassphrase(absl::string_view pem,
                                                          absl::string_view passphrase);

  // Reads a key file written by WriteFile or WriteEncryptedFile (with `passphrase`); the same
  // checks and errors as ReadFile.
  static absl::StatusOr<PrivateKey> ReadFileWithPassphrase(const std::string& path,
                                                           absl::string_view passphrase);

  // Reads a key file written by WriteFile.
  // NOT_FOUND if it does not exist; PERMISSION_DENIED if it cannot be read; FAILED_PRECONDITION
  // if group or others may access it (like ssh, a key anyone else can read is refused);
  // INVALID_ARGUMENT naming the path if it does not hold a key.
  static absl::StatusOr<PrivateKey> ReadFile(const std::string& path);

  PrivateKey(PrivateKey&&) noexcept;
  PrivateKey& operator=(PrivateKey&&) noexcept;
  ~PrivateKey();

  // Unencrypted PKCS#8 PEM. Secret: the caller must not log it and should wipe it when done.
  // INTERNAL if OpenSSL cannot encode the key.
  absl::StatusOr<std::string> ToPem() const;

  // Writes ToPem() to a new file at `path`, mode 0600, durably and without ever exposing a
  // partial file (see WriteNewFile in file_io.h). Never overwrites.
  // ALREADY_EXISTS if `path` exists; NOT_FOUND if its directory does not; PERMISSION_DENIED;
  // INTERNAL on other I/O errors.
  absl::Status WriteFile(const std::string& path) const;

  // Encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY"): AES-256-CBC under a key derived from
  // `passphrase` with scrypt (N=2^14, r=8, p=1, 16-byte random salt), what
  // `openssl pkcs8 -topk8 -v2 aes-256-cbc -scrypt` writes and what `openssl pkey` reads.
  // INVALID_ARGUMENT if the passphrase is shorter than 12 characters; INTERNAL on OpenSSL failure.
  absl::StatusOr<std::string> ToEncryptedPem(absl::string_view passphrase) const;

  // ToEncryptedPem() to a new file at `path`, mode 0600, as WriteFile.
  absl::Status WriteEncryptedFile(const std::string& path, absl::string_view passphrase) const;

  // Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo; equals
  // CertificateInfo::key_fingerprint of a certificate for this key.
  // INTERNAL if OpenSSL cannot encode the public key.
  absl::StatusOr<std::string> PublicKeyFingerprint() const;

  // Type and size, e.g. "EC P-256" or "RSA-3072".
  std::string Description() const;

  // The OpenSSL key, for provisioning/ internals. Owned by this object.
  evp_pkey_st* NativeHandle() const { return key_.get(); }

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const;
  };
  explicit PrivateKey(evp_pkey_st* key) : key_(key) {}

  std::unique_ptr<evp_pkey_st, Free> key_;
};

}  // namespace camfleet::provisioning
