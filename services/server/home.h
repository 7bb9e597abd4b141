#pragma once
// The control plane's home directory, made once by `camfleetd init`:
//
//   HOME/ca/root.crt, root.key      the fleet root (root.key only until `camfleetd ca
//                                   export-root` moves it off the server, encrypted)
//   HOME/ca/ca.key, ca.crt          the issuing CA that signs everything day to day (key mode
//                                   0600; never leaves this machine). A home made before the
//                                   offline root has only these: one CA, root and issuer.
//   HOME/ca/retired/, revoked/, root.crl  issuing CAs replaced by `camfleetd ca
//                                   rotate-intermediate` (provisioning/README.md)
//   HOME/server/{key,cert,ca}.pem   camfleetd's own TLS credentials
//   HOME/fleet.db                   the store
//   HOME/audit/checkpoint.key, .pub the Ed25519 key that signs audit checkpoints (key mode 0600;
//                                   kept out of the database on purpose: whoever can rewrite
//                                   the database must not be able to sign for it). Give
//                                   checkpoint.pub to auditors out of band to pin.
//   HOME/audit/latest-checkpoint.json  the newest checkpoint the server made (periodically and
//                                   at shutdown)
//   HOME/firmware/                  firmware images and deltas, content-addressed (public
//                                   signing keys are in the store; private ones never here)
//   HOME/admin-NAME/{key,cert,ca}.pem  the first admin's credentials: move them to the admin's
//                                   machine and delete them here
//
// Init refuses to touch a home that already holds a CA.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "provisioning/certificate_authority.h"

namespace camfleet::server {

struct HomePaths {
  std::string home;
  std::string CaDir() const { return home + "/ca"; }
  std::string ServerCredentials() const { return home + "/server"; }
  std::string Database() const { return home + "/fleet.db"; }
  std::string Firmware() const { return home + "/firmware"; }
  std::string AuditDir() const { return home + "/audit"; }
  std::string AdminCredentials(const std::string& admin) const { return home + "/admin-" + admin; }
};

struct InitOptions {
  std::string home;
  std::string admin_name = "admin";
  // Names and addresses the server certificate is valid for (clients check them).
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  absl::Time now = absl::InfinitePast();  // InfinitePast means absl::Now()
};

// Makes the CA, the server's credentials, the store and the first admin's credentials, and
// records both certificates and the admin operator in the store's audit trail.
// Errors: ALREADY_EXISTS if HOME already has a CA; INVALID_ARGUMENT for a bad admin name or
// server name; I/O and OpenSSL errors naming the path.
absl::Status InitHome(const InitOptions& options);

struct RotateOptions {
  std::string home;
  // The root key file (encrypted by `camfleetd ca export-root`, or not) and its passphrase.
  std::string root_key_path;
  std::string passphrase;
  // Revoke the old issuing CA at once (keyCompromise) instead of retiring it.
  bool revoke_old = false;
  absl::Time now = absl::InfinitePast();  // InfinitePast means absl::Now()
};

struct IntermediateRotation {
  provisioning::IssuingCaRotation rotation;
  std::string server_certificate_serial;
};

// `camfleetd ca rotate-intermediate` (camfleetd stopped): a new issuing CA signed by the root
// (provisioning::RotateIssuingCa), an audit event `ca.rotate_intermediate`, and a new serving
// certificate from the new issuing CA (RenewServerCertificateInHome).
absl::StatusOr<IntermediateRotation> RotateIntermediateInHome(const RotateOptions& options);

// `camfleetd ca revoke-intermediate SERIAL`: the retired issuing CA `serial` goes on the root's
// CRL (superseded) once every device has renewed from the new one; audit `ca.revoke_intermediate`.
absl::Status RevokeIntermediateInHome(const RotateOptions& options, const std::string& serial);

}  // namespace camfleet::server
