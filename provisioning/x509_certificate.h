#pragma once
// Reading and writing OpenSSL X509 objects. Internal to provisioning/.

#include <openssl/x509.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/certificate.h"
#include "provisioning/openssl_ptr.h"

namespace camfleet::provisioning {

// INVALID_ARGUMENT "<what> is not a PEM certificate: <reason>".
absl::StatusOr<X509Ptr> ReadPemCertificate(absl::string_view pem, absl::string_view what);

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
