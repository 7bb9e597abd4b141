#pragma once
// A firmware release's manifest and its canonical encoding: the exact bytes that are signed.
//
// Protobuf's deterministic serialization is not canonical across implementations or versions,
// so the signed form is a text we define byte for byte. The manifest file `camfleet-sign`
// writes IS the canonical encoding, and is what travels (as bytes) to the server, the docks
// and the cameras; each parses it strictly and refuses any byte sequence that is not exactly
// what EncodeManifest produces for the fields it parsed, so one release has one encoding.
//
// The encoding: UTF-8, ten lines in this order, each "<name> <value>\n" (one space, LF only,
// no trailing spaces, nothing after the last LF):
//
//   camfleet-firmware-manifest 1
//   models BWC-4 BWC-4X            sorted ascending (bytewise), no duplicates, 1-16 models of
//                                   1-64 characters of A-Z a-z 0-9 . _ -
//   version 2.1.0                  MAJOR.MINOR.PATCH, decimal, no leading zeros, each < 10^9
//   image-size 8388608             bytes, decimal, 1 .. 2^31
//   image-sha256 <64 hex>          lower case
//   min-battery-percent 30         0-100
//   allow-downgrade no             "yes" or "no"
//   signed-at 2026-12-06T00:30:00Z UTC, whole seconds
//   signing-key <64 hex>           the key id (firmware_signing.h) of the key that signs it
//   release-notes <text>           0-4096 bytes once unescaped; backslash is written "\\",
//                                   newline "\n", tab "\t"; no other control characters
//
// The first line doubles as a domain separator: nothing else camfleet signs starts with it.
// The detached signature is Ed25519 over these bytes; its file is the base64 of the 64 bytes
// and a newline.

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace camfleet::firmware {

inline constexpr uint64_t kMaxImageBytes = uint64_t{1} << 31;
inline constexpr size_t kMaxReleaseNotesBytes = 4096;
// Far more than any manifest: bounds what is read before parsing.
inline constexpr size_t kMaxManifestBytes = 16 * 1024;

struct Version {
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t patch = 0;
  auto operator<=>(const Version&) const = default;
};
// "2.1.0". INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<Version> ParseVersion(absl::string_view field, absl::string_view text);
std::string FormatVersion(const Version& v);

struct Manifest {
  std::vector<std::string> models;
  Version version;
  uint64_t image_size = 0;
  std::string image_sha256;  // lower-case hex
  uint32_t min_battery_percent = 0;
  bool allow_downgrade = false;
  absl::Time signed_at;
  std::string signing_key_id;  // lower-case hex
  std::string release_notes;
};

// A camera model's name: 1-64 characters of A-Z a-z 0-9 . _ - (no spaces: the manifest's
// models line separates names by spaces). The registry holds every camera's model to the same
// rule, so that any model a camera is registered with can be named by a release.
// INVALID_ARGUMENT naming `field`, the first character not allowed and its position.
inline constexpr size_t kMaxModelNameBytes = 64;
absl::Status ValidateModelName(absl::string_view field, absl::string_view model);

// Checks every field's rules and sorts `models`. INVALID_ARGUMENT naming the field.
absl::Status NormalizeManifest(Manifest& manifest);
// The canonical bytes. `manifest` must have passed NormalizeManifest.
std::string EncodeManifest(const Manifest& manifest);
// Parses canonical bytes strictly (see the header comment).
// INVALID_ARGUMENT saying which line is wrong and why.
absl::StatusOr<Manifest> ParseManifest(absl::string_view bytes);

// The signature file's text for a 64-byte signature, and back. INVALID_ARGUMENT if it is not
// base64 of 64 bytes.
std::string EncodeSignatureFile(absl::string_view signature);
absl::StatusOr<std::string> ParseSignatureFile(absl::string_view text);

// True if `model` is one of the release's models.
bool ManifestCovers(const Manifest& manifest, absl::string_view model);

}  // namespace camfleet::firmware
