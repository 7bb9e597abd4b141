#pragma once
// What camfleet-sign does, as functions the tests call directly: make a signing key pair, sign
// a release (hash the image file, write the canonical manifest and a detached signature), and
// check a signed release the way camfleetd does.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "firmware/manifest.h"

namespace camfleet::sign {

// File names `keygen` writes in its output directory.
inline constexpr char kPrivateKeyFile[] = "firmware-signing.key";
inline constexpr char kPublicKeyFile[] = "firmware-signing.pub";

struct KeyPairFiles {
  std::string private_key_path;
  std::string public_key_path;
  std::string key_id;
};
// Makes an Ed25519 key pair in `dir` (created 0700 if missing): the private key 0600, the public
// key 0644. ALREADY_EXISTS rather than replace either file.
absl::StatusOr<KeyPairFiles> GenerateKeyPair(const std::string& dir);

struct ReleaseSpec {
  std::string image_path;
  std::string key_path;
  std::vector<std::string> models;
  std::string version;
  uint32_t min_battery_percent = 0;
  bool allow_downgrade = false;
  std::string release_notes;
  absl::Time signed_at = absl::InfinitePast();  // InfinitePast: now, to the second
};

struct SignedRelease {
  firmware::Manifest manifest;
  std::string manifest_bytes;
  std::string signature;  // raw 64 bytes
};

// Reads and hashes the image (streamed), builds and checks the manifest, signs it.
// INVALID_ARGUMENT naming the field; the key file's and image file's errors.
absl::StatusOr<SignedRelease> SignRelease(const ReleaseSpec& spec);

// Writes the manifest and the signature file (base64) as new files; ALREADY_EXISTS rather
// than replace one.
absl::Status WriteRelease(const SignedRelease& release, const std::string& manifest_path,
                          const std::string& signature_path);

// SHA-256 (hex) and size of a file, read in pieces. NOT_FOUND and the like naming the path.
struct FileDigest {
  uint64_t size = 0;
  std::string sha256;
};
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace camfleet::sign
