#pragma once
// Ed25519 keys that sign firmware releases, and the SHA-256 of images too large to hold twice.
//
// The signing key lives with whoever signs releases (`camfleet-sign`, on an offline machine);
// camfleetd, the docks and the cameras hold only public keys. A key is named by its key id: the
// lower-case hex SHA-256 of its DER SubjectPublicKeyInfo (what
// `openssl pkey -pubin -outform DER | sha256sum` prints for the public key file).
//
// Ed25519 because a signature is deterministic (no per-signature randomness to get wrong on an
// offline machine), verification is cheap on a camera's CPU, and keys and signatures are small
// (32 and 64 bytes).

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/digest.h"

struct evp_pkey_st;
struct evp_md_ctx_st;

namespace camfleet::provisioning {

inline constexpr size_t kFirmwareSignatureBytes = 64;

class FirmwareSigningKey {
 public:
  // A new Ed25519 key. INTERNAL if OpenSSL cannot make one.
  static absl::StatusOr<FirmwareSigningKey> Generate();
  // Reads a key file written by WriteFile. NOT_FOUND; FAILED_PRECONDITION if group or others
  // may read it; INVALID_ARGUMENT if it holds no Ed25519 private key.
  static absl::StatusOr<FirmwareSigningKey> ReadFile(const std::string& path);

  FirmwareSigningKey(FirmwareSigningKey&&) noexcept;
  FirmwareSigningKey& operator=(FirmwareSigningKey&&) noexcept;
  ~FirmwareSigningKey();

  // Writes the key (PKCS#8 PEM) to a new file, mode 0600, never overwriting (WriteNewFile).
  absl::Status WriteFile(const std::string& path) const;
  // The public key, "PUBLIC KEY" PEM: what camfleetd, docks and cameras are given.
  absl::StatusOr<std::string> PublicKeyPem() const;
  // See the header comment.
  absl::StatusOr<std::string> KeyId() const;
  // The 64-byte Ed25519 signature of `message`. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const;
  };
  explicit FirmwareSigningKey(evp_pkey_st* key) : key_(key) {}
  std::unique_ptr<evp_pkey_st, Free> key_;
};

// The key id of a "PUBLIC KEY" PEM. INVALID_ARGUMENT if it is not an Ed25519 public key.
absl::StatusOr<std::string> FirmwarePublicKeyId(absl::string_view public_key_pem);

// Checks `signature` over `message` with the Ed25519 public key `public_key_pem`.
// INVALID_ARGUMENT if the key does not parse or is not Ed25519; UNAUTHENTICATED if the signature
// does not verify (wrong key, altered message, or not a signature at all).
absl::Status VerifyFirmwareSignature(absl::string_view public_key_pem, absl::string_view message,
                                     absl::string_view signature);

// SHA-256 fed in pieces, for images streamed to disk.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(absl::string_view data);
  // The digest of everything fed; the stream starts over afterwards.
  Sha256Digest Finish();

 private:
  evp_md_ctx_st* ctx_;
};

}  // namespace camfleet::provisioning
