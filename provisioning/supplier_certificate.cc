#include "provisioning/supplier_certificate.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "provisioning/chain_verification.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"
#include "provisioning/x509_certificate.h"

namespace camfleet::provisioning {

absl::StatusOr<CertificateInfo> VerifyIssuedBy(absl::string_view cert_pem,
                                               absl::string_view issuer_ca_pem,
                                               absl::string_view expected_cn, absl::Time at) {
  absl::StatusOr<X509Ptr> anchor = ReadPemCertificate(issuer_ca_pem, "supplier CA certificate");
  if (!anchor.ok()) return anchor.status();
  if (X509_check_ca(anchor->get()) == 0) {
    return absl::InvalidArgumentError("supplier CA certificate is not a CA");
  }
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();

  absl::StatusOr<X509StorePtr> store = NewTrustStore(anchor->get(), nullptr);
  if (!store.ok()) return store.status();
  const ChainCheck check{store->get(), nullptr, "the supplier CA", true};
  if (absl::Status trusted = VerifyAgainstAnchor(check, cert->get(), at); !trusted.ok()) {
    if (trusted.code() != absl::StatusCode::kUnauthenticated) return trusted;
    return absl::InvalidArgumentError(trusted.message());
  }

  absl::StatusOr<CertificateInfo> info = BasicCertificateInfo(cert->get());
  if (!info.ok()) return info.status();
  if (info->subject_cn != expected_cn) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate subject CN is '", absl::CHexEscape(info->subject_cn),
                     "' but the camera is '", absl::CHexEscape(expected_cn), "'"));
  }
  const EVP_PKEY* key = X509_get0_pubkey(cert->get());
  if (!KeyMeetsPolicy(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate key is ", DescribeKey(key), "; ", kKeyPolicy));
  }
  info->role = Role::kCamera;
  info->identity = info->subject_cn;
  return info;
}

absl::StatusOr<CertificateInfo> ParseCaCertificate(absl::string_view ca_pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(ca_pem, "supplier CA certificate");
  if (!cert.ok()) return cert.status();
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError("supplier CA certificate is not a CA");
  }
  return BasicCertificateInfo(cert->get());
}

}  // namespace camfleet::provisioning
