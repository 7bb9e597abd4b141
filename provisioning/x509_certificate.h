#pragma once
// Reading and writing OpenSSL X509 objects. Internal to provisioning/.

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/certificate.h"
#include "provisioning/openssl_ptr.h"

namespace camfleet::provisioning {

// INVALID_ARGUMENT "<what> is not a PEM certificate: <reason>".
absl::StatusOr<X509Ptr> ReadPemCertificate(absl::string_view pem, absl::string_view what);

// Every certificate and CRL in a PEM text, in order (other PEM blocks are skipped).
struct PemObjects {
  std::vector<X509Ptr> certificates;
  std::vector<X509CrlPtr> crls;
};
// INVALID_ARGUMENT "<what> is not PEM: <reason>" if the text does not decode.
absl::StatusOr<PemObjects> ReadPemObjects(absl::string_view pem, absl::string_view what);

// True if `cert` names itself as issuer and its own key verifies its signature (a root).
bool IsSelfSigned(X509* cert);

// INTERNAL if OpenSSL cannot encode it.
absl::StatusOr<std::string> CertificateToPem(X509* cert);

// Lower-case hex without leading zeros; "-" in front of a negative (foreign, malformed) serial.
std::string SerialToHex(const ASN1_INTEGER* serial);

// As ParseCertificate, for a certificate already decoded.
absl::StatusOr<CertificateInfo> FleetCertificateInfo(X509* cert);

// Serial, names, validity and key fingerprint; role and identity left empty. For certificates
// that carry no camfleet:// URI, such as a supplier's factory certificates.
absl::StatusOr<CertificateInfo> BasicCertificateInfo(X509* cert);

}  // namespace camfleet::provisioning
