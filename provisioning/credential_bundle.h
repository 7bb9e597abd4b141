#pragma once
// A credential bundle: the directory a client (operator CLI, dock, the server itself) keeps its
// TLS identity in:
//
//   DIR/key.pem   the private key, mode 0600, made on this machine
//   DIR/cert.pem  its certificate from the fleet CA
//   DIR/ca.pem    the fleet CA certificate, to check the other side with
//
// DIR itself is mode 0700.
//
// On disk the three files live together in a version directory, and one symlink says which
// version is current:
//
//   DIR/current -> v7           swapped with rename(2): the only step that changes the bundle
//   DIR/v7/{key,cert,ca}.pem    the current version, written and fsynced before the swap
//   DIR/v6/...                  the previous version, kept so a reader that resolved `current`
//                               just before a swap can finish; older ones are deleted
//   DIR/key.pem -> current/key.pem (likewise cert.pem, ca.pem), so DIR/<file> paths keep working
//
// Why: a renewal replaces a key and its certificate together. Two separate renames leave a
// mismatched pair if the process dies between them (a dock losing power mid-renewal), and a
// reader between them sees one. With one symlink swap a reader (LoadCredentialBundle) sees the
// old pair or the new one, never a mix, whenever the writer stops.
// A directory from before this layout (three plain files, no `current`) still loads; the first
// ReplaceCredentialBundle moves it to the versioned layout.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/key.h"

namespace camfleet::provisioning {

inline constexpr char kBundleKeyFile[] = "key.pem";
inline constexpr char kBundleCertFile[] = "cert.pem";
inline constexpr char kBundleCaFile[] = "ca.pem";
// The symlink naming the current version directory.
inline constexpr char kBundleCurrentLink[] = "current";

struct CredentialBundle {
  std::string key_pem;  // secret: never log it
  std::string cert_pem;
  std::string ca_pem;
};

// Writes a new bundle, creating DIR (0700) if needed. Never overwrites: ALREADY_EXISTS if DIR
// already holds any of the three files or `current` (nothing is written then). PERMISSION_DENIED
// or INTERNAL on I/O errors, naming the path.
absl::Status WriteCredentialBundle(const std::string& dir, const PrivateKey& key,
                                   absl::string_view cert_pem, absl::string_view ca_pem);

// Replaces the key, certificate and CA of an existing bundle (after a renewal) as one atomic
// step: readers, and the bundle left by a crash at any point, hold either the old three files
// or the new three. Writers of the same DIR are serialised with flock(2) on DIR (exclusive), so
// the version a locked reader is reading is never pruned under it. Creates DIR
// (0700) if it does not exist.
// INTERNAL/PERMISSION_DENIED on I/O errors, naming the path; on error the old bundle stays.
absl::Status ReplaceCredentialBundle(const std::string& dir, const PrivateKey& key,
                                     absl::string_view cert_pem, absl::string_view ca_pem);

// Reads a bundle: all three files from the same version. Lock-free unless a replacement races
// the read; then it reads again under a shared flock(2), waiting out the writer.
// NOT_FOUND naming the missing file;
// FAILED_PRECONDITION if key.pem is readable by group or others; INVALID_ARGUMENT if a file
// does not parse, or `current` points somewhere other than a version directory in DIR.
absl::StatusOr<CredentialBundle> LoadCredentialBundle(const std::string& dir);

}  // namespace camfleet::provisioning
