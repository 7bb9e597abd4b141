#pragma once
// A credential bundle: the directory a client (operator CLI, dock, the server itself) keeps its
// TLS identity in:
//
//   DIR/key.pem   the private key, mode 0600, made on this machine
//   DIR/cert.pem  its certificate from the fleet CA
//   DIR/ca.pem    the fleet CA certificate, to check the other side with
//
// DIR itself is mode 0700.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/key.h"

namespace camfleet::provisioning {

inline constexpr char kBundleKeyFile[] = "key.pem";
inline constexpr char kBundleCertFile[] = "cert.pem";
inline constexpr char kBundleCaFile[] = "ca.pem";

struct CredentialBundle {
  std::string key_pem;  // secret: never log it
  std::string cert_pem;
  std::string ca_pem;
};

// Writes a new bundle, creating DIR (0700) if needed. Never overwrites: ALREADY_EXISTS if DIR
// already holds any of the three files (nothing is written then). PERMISSION_DENIED or
// INTERNAL on I/O errors, naming the path.
absl::Status WriteCredentialBundle(const std::string& dir, const PrivateKey& key,
                                   absl::string_view cert_pem, absl::string_view ca_pem);

// Replaces the key and certificate of an existing bundle (after a renewal), each file swapped
// atomically; the CA is rewritten too. INTERNAL/PERMISSION_DENIED on I/O errors.
absl::Status ReplaceCredentialBundle(const std::string& dir, const PrivateKey& key,
                                     absl::string_view cert_pem, absl::string_view ca_pem);

// Reads a bundle. NOT_FOUND naming the missing file; FAILED_PRECONDITION if key.pem is readable
// by group or others; INVALID_ARGUMENT if a file does not parse.
absl::StatusOr<CredentialBundle> LoadCredentialBundle(const std::string& dir);

}  // namespace camfleet::provisioning
