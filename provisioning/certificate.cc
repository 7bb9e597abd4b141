#include "provisioning/certificate.h"

#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"
#include "provisioning/x509_certificate.h"

namespace camfleet::provisioning {

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(pem, "certificate");
  if (!cert.ok()) return cert.status();
  return FleetCertificateInfo(cert->get());
}

absl::StatusOr<std::string> CertificateKeyFingerprint(absl::string_view pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(pem, "certificate");
  if (!cert.ok()) return cert.status();
  const EVP_PKEY* key = X509_get0_pubkey(cert->get());
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "certificate public key does not decode");
  }
  return PublicKeyFingerprint(key);
}

}  // namespace camfleet::provisioning
