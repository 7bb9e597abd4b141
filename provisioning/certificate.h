#pragma once
// Certificates the fleet CA issued, and what camfleet reads out of them.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/role.h"

namespace camfleet::provisioning {

struct CertificateInfo {
  // The serial number as lower-case hex without leading zeros: the key under which the control
  // plane records the certificate and the value a CRL lists.
  std::string serial_hex;
  std::string subject_cn;
  std::string issuer_cn;
  // Read back from the certificate's camfleet://<role>/<identity> SAN URI (identity.h).
  Role role = Role::kCamera;
  std::string identity;
  absl::Time not_before;
  absl::Time not_after;
  // Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo (PrivateKey::PublicKeyFingerprint).
  std::string key_fingerprint;
  // The certificate has an extendedKeyUsage extension that includes clientAuth, and a keyUsage
  // extension that includes digitalSignature: what a TLS client certificate needs. A missing
  // extension counts as no (our CA always writes both; certificate_authority.h).
  bool client_auth = false;
  bool digital_signature = false;
};

struct IssuedCertificate {
  std::string pem;
  CertificateInfo info;
};

// Reads a fleet certificate. Parsing is not trusting: use CertificateVerifier::VerifyChain for
// a certificate a peer presents.
// INVALID_ARGUMENT if `pem` is not a PEM certificate, has no or several camfleet:// SAN URIs,
// the URI is malformed, or the subject CN differs from the URI's identity.
absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem);

// The DNS and IP names (subjectAltName) a certificate is valid for as a TLS server; IPs in
// text form ("127.0.0.1", "::1"). camfleetd reads them from its own certificate to renew it
// for the same names. INVALID_ARGUMENT if `pem` is not a PEM certificate or its SAN does not
// decode.
struct ServerNames {
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};
absl::StatusOr<ServerNames> ReadServerNames(absl::string_view pem);
// The SHA-256 (hex) of any certificate's public key (DER SubjectPublicKeyInfo), fleet or not
// (a supplier's factory certificate). INVALID_ARGUMENT if `pem` is not a PEM certificate.
absl::StatusOr<std::string> CertificateKeyFingerprint(absl::string_view pem);
// The SHA-256 (hex) of the first certificate in `pem`, DER-encoded: the same for the same
// certificate whatever its PEM line breaks, different for any other certificate (another
// signature, another extension), even under the same serial and key.
// INVALID_ARGUMENT if `pem` is not a PEM certificate.
absl::StatusOr<std::string> CertificateFingerprint(absl::string_view pem);

}  // namespace camfleet::provisioning
