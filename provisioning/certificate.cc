#include "provisioning/certificate.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "provisioning/digest.h"
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

absl::StatusOr<std::string> CertificateFingerprint(absl::string_view pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(pem, "certificate");
  if (!cert.ok()) return cert.status();
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert->get(), &der);
  if (length <= 0) return OpenSslError(absl::StatusCode::kInternal, "encoding a certificate");
  const std::string digest = ToHex(
      Sha256(absl::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(length))));
  OPENSSL_free(der);
  return digest;
}

}  // namespace camfleet::provisioning
