#include "provisioning/certificate.h"

#include "provisioning/openssl_ptr.h"
#include "provisioning/x509_certificate.h"

namespace camfleet::provisioning {

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(pem, "certificate");
  if (!cert.ok()) return cert.status();
  return FleetCertificateInfo(cert->get());
}

}  // namespace camfleet::provisioning
