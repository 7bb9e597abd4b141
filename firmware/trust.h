#pragma once
// The firmware signing keys a party trusts, and the checks every party (camfleetd, a dock, a
// camera) makes on a release before it keeps or runs it: the manifest parses strictly, names a
// key this party trusts and has not retired, and that key's signature over the manifest bytes
// verifies; the image has the signed size and SHA-256.
//
// Several keys may be trusted at once, so that a new key can be rolled out before the old one
// is retired. A retired key's releases are refused from then on.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "firmware/manifest.h"

namespace camfleet::firmware {

struct TrustedKey {
  std::string key_id;
  std::string public_key_pem;
  bool retired = false;
};

class Trust {
 public:
  // Adds (or replaces) a key. INVALID_ARGUMENT if the PEM is not an Ed25519 public key.
  absl::Status Add(absl::string_view public_key_pem, bool retired = false);
  // Marks a key retired (known, and refused). NOT_FOUND if it is not known.
  absl::Status Retire(absl::string_view key_id);
  bool empty() const { return keys_.empty(); }
  const std::map<std::string, TrustedKey>& keys() const { return keys_; }

  // Parses `manifest_bytes` and checks its signature. Errors, each naming the problem:
  // INVALID_ARGUMENT for a manifest that does not parse; PERMISSION_DENIED for a key that is
  // not trusted here or was retired; UNAUTHENTICATED for a signature that does not verify.
  absl::StatusOr<Manifest> Verify(absl::string_view manifest_bytes,
                                  absl::string_view signature) const;

 private:
  std::map<std::string, TrustedKey> keys_;
};

// Checks an image against its (verified) manifest: size, then SHA-256.
// INVALID_ARGUMENT saying which differs.
absl::Status CheckImage(const Manifest& manifest, absl::string_view image);
// The same for an image whose size and digest were measured while streaming it.
absl::Status CheckImageDigest(const Manifest& manifest, uint64_t size,
                              absl::string_view sha256_hex);

// Whether a camera of `model` running `running_version` may install the release (anti-rollback):
// FAILED_PRECONDITION if the release is not for the model, or is not newer than what runs and
// not signed as an allowed downgrade (the message says which). `running_version` that does not
// parse counts as 0.0.0.
absl::Status CheckInstallable(const Manifest& manifest, absl::string_view model,
                              absl::string_view running_version);

}  // namespace camfleet::firmware
